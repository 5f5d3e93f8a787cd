/* {{name}}: greets each `user.signed_up` event with a `greeting.sent` event. */
#include <stdlib.h>
#include <string.h>

#include "weir_plugin.h"

weir_outcome weir_handle(const weir_event *event) {
    weir_json *data = weir_event_json(event);
    if (!data) return weir_fail("%s", weir_json_last_error());
    const char *name = weir_json_string(weir_json_at(data, "name"));
    if (!name) return weir_fail("missing field name");
    const char *word = weir_config("greeting");
    if (!word) word = "Hello";

    char *key = weir_format("greeted:%s", name);
    uint8_t *stored;
    size_t stored_len;
    long times = weir_state_get(key, &stored, &stored_len) ? strtol((char *)stored, NULL, 10) : 0;
    times += 1;
    char *count = weir_format("%ld", times);
    weir_state_set(key, (const uint8_t *)count, strlen(count));
    weir_log_info("greeting %s (time %ld)", name, times);

    char *greeting = weir_format("%s, %s!", word, name);
    return weir_emit(weir_new_event_json(
        "greeting.sent", weir_format("{\"greeting\":%s,\"times\":%ld}", weir_json_quote(greeting), times)));
}
