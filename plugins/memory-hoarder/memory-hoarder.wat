;; Test fixture: a component that defines three linear memories, one more than
;; weir lets one component instance take from the pool, so that a plugin
;; cannot leave other plugins' instance slots without memories. weir refuses it
;; when it compiles it, before looking for the handler it does not export.
(component
  (core module $hoard (memory 1))
  (core instance (instantiate $hoard))
  (core instance (instantiate $hoard))
  (core instance (instantiate $hoard)))
