;; Hostile: a table without a maximum, grown until table.grow fails. Expect the growth to stop at the
;; patched maximum (the guest then traps: RUNTIME_ERROR); unpatched, the growth aborts its process.
(module
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $grow
      (br_if $grow (i32.ne (table.grow $t (ref.null func) (i32.const 65536)) (i32.const -1))))
    unreachable))
