;; Hostile: grows memory one page at a time until memory.grow fails, then aborts like an allocator
;; would. Expect RUNTIME_MEMORY_LIMIT, and the growth to stop at the cap.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
