export {
  type CliConfig,
  configPath,
  DEFAULT_API_URL,
  readConfig,
  resolveConnection,
  updateConfig,
} from "./config.ts";
export { type CliContext, CliError, EXIT, type ExitCode } from "./context.ts";
export { buildProgram, run } from "./program.ts";
