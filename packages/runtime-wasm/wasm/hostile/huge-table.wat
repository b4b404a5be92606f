;; Hostile: 59 bytes that declare a 10-million-entry table (V8's own limit). Instantiating it needs
;; ~80 MB of JS heap in one allocation, a fatal out-of-memory that aborts the whole process.
;; Expect ARTIFACT_INVALID table_too_large at publish; unpatched, it costs one sandbox process.
(module
  (table 10000000 funcref)
  (memory (export "memory") 1)
  (func (export "_start")))
