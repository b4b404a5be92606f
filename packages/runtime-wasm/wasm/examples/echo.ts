// The Spell wasm ABI in AssemblyScript: the input JSON arrives on stdin, the output JSON goes to
// stdout, exit code 0 means success and stderr is kept as the execution's log.
// Build: asc echo.ts --config node_modules/@assemblyscript/wasi-shim/asconfig.json -O --runtime stub -o echo-as.wasm

const input = new ArrayBuffer(1 << 16);
let length = 0;
for (;;) {
  const n = process.stdin.read(input, length);
  if (n <= 0 || length + n >= input.byteLength) {
    if (n > 0) length += n;
    break;
  }
  length += n;
}
if (length === 0) {
  process.stderr.write("echo: empty input\n");
  process.exit(1);
}
process.stdout.write('{"echo":');
process.stdout.write(input.slice(0, length));
process.stdout.write("}");
