;; Hostile: an active data segment placed at the top of the 32-bit address space. Expect a
;; RUNTIME_ERROR at instantiation; nothing is written.
(module
  (memory (export "memory") 1)
  (data (i32.const -16) "0123456789abcdef")
  (func (export "_start")))
