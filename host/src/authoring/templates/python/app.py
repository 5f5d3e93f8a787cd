"""{{name}}: greets each `user.signed_up` event with a `greeting.sent` event."""

from weir_plugin import Fail, config, emit, handler, log, new_event, state


@handler
def handle(event):
    name = event.json().get("name")
    if not isinstance(name, str):
        raise Fail("missing field name")
    word = config.get("greeting", "Hello")
    key = f"greeted:{name}"
    times = state.get_json(key, 0) + 1
    state.set_json(key, times)
    log.info(f"greeting {name} (time {times})")
    return emit(new_event("greeting.sent", {"greeting": f"{word}, {name}!", "times": times}))
