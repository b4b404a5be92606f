// The IPC floor for breakdown.bench.ts: answers every task message at once with a result shaped
// like a sandbox's answer for echo-c, doing no wasm work at all.
const result = {
  kind: "exit",
  stderr: "",
  memoryBytes: 1_179_648,
  code: 0,
  output: { echo: { hello: "world" } },
  parsed: true,
};

process.on("message", (message) => {
  process.send({ type: "result", id: message.id, result });
});
process.on("disconnect", () => process.exit(0));
process.send({ type: "ready" });
