;; Test fixture: a handler with two linear memories, one in each of its core
;; modules, that grows both by one page (64 KiB) per byte of the event's data,
;; then acks; if either cannot grow, it traps. Each memory alone stays under the
;; plugin's `memory_bytes` where both together do not: weir counts every memory
;; of an instance against one limit.
;;
;; Written by hand because no guest language gives a component two memories.
;; The handler's export is table-bomb's: `weir:plugin/handler@0.1.0`, with a
;; bump allocator as the canonical ABI's `realloc`.
(component
  ;; The second memory, and a way to grow it.
  (core module $spare
    (memory (export "memory") 1)
    (func (export "grow") (param $pages i32) (result i32)
      (memory.grow (local.get $pages))))
  (core instance $spare-instance (instantiate $spare))

  (core module $handler
    (import "spare" "grow" (func $grow-spare (param i32) (result i32)))
    (memory (export "memory") 1)
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
      (local $pages i32)
      (local.set $pages (i32.load offset=64 (local.get $event)))
      (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
        (then unreachable))
      (if (i32.eq (call $grow-spare (local.get $pages)) (i32.const -1))
        (then unreachable))
      (i32.const 16)))
  (core instance $instance
    (instantiate $handler (with "spare" (instance $spare-instance))))

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
