;; Hostile: asks poll_oneoff to sleep for an hour and reports the errno as JSON.
;; Expect success with {"pollErrno":58} (ENOTSUP) returned at once.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "{\"pollErrno\":00}")
  (func (export "_start")
    (local $e i32)
    ;; subscription at 0: userdata 0, tag 0 (clock), clock id 1 (monotonic), timeout 3600 s, relative.
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (local.set $e (call $poll (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 320)))
    (i32.store8 (i32.const 525) (i32.add (i32.const 48) (i32.div_u (local.get $e) (i32.const 10))))
    (i32.store8 (i32.const 526) (i32.add (i32.const 48) (i32.rem_u (local.get $e) (i32.const 10))))
    (i32.store (i32.const 400) (i32.const 512))
    (i32.store (i32.const 404) (i32.const 16))
    (drop (call $write (i32.const 1) (i32.const 400) (i32.const 1) (i32.const 408)))))
