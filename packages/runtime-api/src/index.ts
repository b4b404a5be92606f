export {
  API_DEFAULT_MAX_RESPONSE_BYTES,
  API_DEFAULT_TIMEOUT_MS,
  API_MAX_RESPONSE_BYTES,
  API_MAX_TIMEOUT_MS,
  type ApiSpellConfig,
  validateApiArtifact,
  ZApiSpellConfig,
} from "./config.ts";
export { type ApiRuntimeOptions, createApiRuntime } from "./runtime.ts";
export {
  DEFAULT_SIGNATURE_TOLERANCE_SEC,
  deriveSpellSigningSecret,
  SPELL_EXECUTION_ID_HEADER,
  SPELL_SIGNATURE_HEADER,
  signUpstreamRequest,
  verifySpellSignature,
} from "./signature.ts";
export {
  createGuardedConnector,
  DnsFailureError,
  type DnsLookupAll,
  ForbiddenAddressError,
  HostAllowlist,
  isForbiddenAddress,
  resolveCheckedAddress,
} from "./ssrf.ts";
