;; Hostile: tries to open /etc/passwd through every plausible directory fd and reports the errnos
;; as two-digit strings in JSON. Expect success with every errno non-zero (no preopens, path_* refused).
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/etc/passwd")
  ;; Output template at 64: {"prestat":"NN","open":"NN","read":"NN"}
  (data (i32.const 64) "{\"prestat\":\"00\",\"open\":\"00\",\"read\":\"00\"}")
  (func $put2 (param $at i32) (param $n i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (i32.div_u (local.get $n) (i32.const 10))))
    (i32.store8 (i32.add (local.get $at) (i32.const 1))
      (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10)))))
  (func (export "_start")
    (local $fd i32) (local $worst i32) (local $e i32)
    ;; The lowest errno over fds 3..9 for each call: any 0 would mean access.
    (local.set $worst (i32.const 99))
    (local.set $fd (i32.const 3))
    (loop $each
      (local.set $e (call $prestat (local.get $fd) (i32.const 200)))
      (if (i32.lt_u (local.get $e) (local.get $worst)) (then (local.set $worst (local.get $e))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $fd) (i32.const 10))))
    (call $put2 (i32.const 76) (local.get $worst))
    (local.set $worst (i32.const 99))
    (local.set $fd (i32.const 0))
    (loop $each
      (local.set $e (call $open (local.get $fd) (i32.const 0) (i32.const 16) (i32.const 11)
        (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 300)))
      (if (i32.lt_u (local.get $e) (local.get $worst)) (then (local.set $worst (local.get $e))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $fd) (i32.const 10))))
    (call $put2 (i32.const 88) (local.get $worst))
    ;; Reading from an fd a successful open would have returned.
    (i32.store (i32.const 400) (i32.const 500))
    (i32.store (i32.const 404) (i32.const 64))
    (call $put2 (i32.const 100) (call $read (i32.const 3) (i32.const 400) (i32.const 1) (i32.const 408)))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 40))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
