;; Hostile: asks for the environment and the arguments and reports their sizes as JSON.
;; Expect {"env":"00/00000","args":"00/00000"}: nothing of the host leaks.
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{\"env\":\"00/00000\",\"args\":\"00/00000\"}")
  (func $digits (param $at i32) (param $n i32) (param $width i32)
    (loop $d
      (local.set $width (i32.sub (local.get $width) (i32.const 1)))
      (i32.store8 (i32.add (local.get $at) (local.get $width))
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $d (local.get $width))))
  (func (export "_start")
    (drop (call $env_sizes (i32.const 0) (i32.const 4)))
    ;; Ask for the strings too, into a scratch area, in case the sizes lie.
    (drop (call $env_get (i32.const 1024) (i32.const 2048)))
    (call $digits (i32.const 72) (i32.load (i32.const 0)) (i32.const 2))
    (call $digits (i32.const 75) (i32.add (i32.load (i32.const 4)) (i32.load8_u (i32.const 2048))) (i32.const 5))
    (drop (call $args_sizes (i32.const 0) (i32.const 4)))
    (call $digits (i32.const 90) (i32.load (i32.const 0)) (i32.const 2))
    (call $digits (i32.const 93) (i32.load (i32.const 4)) (i32.const 5))
    (i32.store (i32.const 8) (i32.const 64))
    (i32.store (i32.const 12) (i32.const 36))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))
