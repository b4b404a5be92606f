export {
  acceptArtifact,
  createFakeBuiltinRuntime,
  createMemoryEngineDeps,
  createMemoryPorts,
  createRecordingBilling,
  createRecordingRuntime,
  FAKE_BUILTINS,
  type FakeBuiltin,
  fakeAuthenticate,
  type MemoryPorts,
  runningExecution,
  spellRecord,
} from "./memory.ts";
