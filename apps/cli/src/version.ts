import manifest from "../package.json" with { type: "json" };

/** This CLI's version, from its package.json (inlined into the built bundle). */
export const CLI_VERSION: string = manifest.version;
