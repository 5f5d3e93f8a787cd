;; Test fixture: a handler that grows its function table by 1,000 elements per
;; byte of the event's data, then acks; if the table cannot grow, it traps.
;;
;; Written by hand because no guest language compiles to `table.grow`: Rust and
;; C keep a fixed table of their own functions. It is a component of the
;; `handler-plugin` world exporting `weir:plugin/handler@0.1.0`, with a bump
;; allocator as the canonical ABI's `realloc`.
(component
  (core module $handler
    (memory (export "memory") 1)
    (table $functions 1 funcref)
    (global $free (mut i32) (i32.const 1024))

    ;; Hands out memory and never takes it back: an instance handles one event.
    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $at i32)
      (local.set $at
        (i32.and
          (i32.add (global.get $free) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $free (i32.add (local.get $at) (local.get $size)))
      (local.get $at))

    ;; $event points at the event record; its `data` list is (pointer, length)
    ;; at offset 60. Returns a pointer to the outcome: zeroed memory is `ack`.
    (func (export "handle") (param $event i32) (result i32)
      (if (i32.eq
            (table.grow $functions
              (ref.null func)
              (i32.mul (i32.load offset=64 (local.get $event)) (i32.const 1000)))
            (i32.const -1))
        (then unreachable))
      (i32.const 16)))
  (core instance $instance (instantiate $handler))

  (type $event' (record
    (field "id" string)
    (field "source" string)
    (field "type" string)
    (field "subject" (option string))
    (field "time" (option string))
    (field "datacontenttype" (option string))
    (field "data" (list u8))
    (field "tenant" string)
    (field "extensions" (list (tuple string string)))
    (field "attempt" u32)))
  (type $new-event' (record
    (field "type" string)
    (field "source" (option string))
    (field "subject" (option string))
    (field "datacontenttype" (option string))
    (field "data" (list u8))
    (field "extensions" (list (tuple string string)))))
  (export $event "event" (type $event'))
  (export $new-event "new-event" (type $new-event'))
  (type $outcome' (variant
    (case "ack")
    (case "emit" (list $new-event))
    (case "retry-later" u32)
    (case "fail" string)))
  (export $outcome "outcome" (type $outcome'))

  (func $handle (param "event" $event) (result $outcome)
    (canon lift (core func $instance "handle")
      (memory (core memory $instance "memory"))
      (realloc (core func $instance "realloc"))))
  (instance $handler-instance
    (export "event" (type $event))
    (export "outcome" (type $outcome))
    (export "handle" (func $handle)))
  (export "weir:plugin/handler@0.1.0" (instance $handler-instance))
)
