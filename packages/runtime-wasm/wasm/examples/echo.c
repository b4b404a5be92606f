// The Spell wasm ABI in C: the input JSON arrives on stdin, the output JSON goes to stdout,
// exit code 0 means success and stderr is kept as the execution's log.
// Build: clang --target=wasm32-wasi --sysroot=/usr -O2 -o echo-c.wasm echo.c
#include <stdio.h>

int main(void) {
  static char input[1 << 20];
  size_t length = fread(input, 1, sizeof input, stdin);
  if (length == 0) {
    fputs("echo: empty input\n", stderr);
    return 1;
  }
  fputs("{\"echo\":", stdout);
  fwrite(input, 1, length, stdout);
  fputs("}", stdout);
  return 0;
}
