// The Spell wasm ABI in Rust: the input JSON arrives on stdin, the output JSON goes to stdout,
// exit code 0 means success and stderr is kept as the execution's log.
// Build: rustc --target wasm32-wasi -O -o echo-rust.wasm echo.rs
use std::io::{self, Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut input = String::new();
    if io::stdin().read_to_string(&mut input).is_err() || input.is_empty() {
        eprintln!("echo: empty or non-UTF-8 input");
        return ExitCode::from(1);
    }
    let mut out = io::stdout().lock();
    write!(out, "{{\"echo\":{}}}", input.trim_end()).expect("stdout");
    ExitCode::SUCCESS
}
