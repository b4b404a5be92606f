;; Hostile: traps at once. Expect RUNTIME_ERROR with the trap message.
(module
  (memory (export "memory") 1)
  (func (export "_start") unreachable))
