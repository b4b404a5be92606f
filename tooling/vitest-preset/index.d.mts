import type { UserConfig } from "vitest/config";

export declare const SOURCE_CONDITION: "@spell/source";
export declare const spellPreset: UserConfig;
export declare function spellVitestConfig(test?: NonNullable<UserConfig["test"]>): UserConfig;
