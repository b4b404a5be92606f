;; Hostile: loops forever in the start function, which runs while the module is instantiated, before
;; `_start`. Expect RUNTIME_TIMEOUT.
(module
  (memory (export "memory") 1)
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func (export "_start")))
