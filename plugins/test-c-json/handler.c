/*
 * test-c-json: holds the C SDK's JSON reader to serde_json. The event's data
 * is an array of strings; each is parsed as JSON text and written back (or
 * its error given), and the results are emitted as one `json.checked` event:
 * [{"value": ...} or {"error": "..."}, ...] in the same order.
 */
#include <inttypes.h>
#include <string.h>

#include "weir_plugin.h"

static char *write_json(const weir_json *value);

static char *write_json(const weir_json *value) {
    uint64_t whole;
    double number;
    bool truth;
    switch (weir_json_kind_of(value)) {
    case WEIR_JSON_BOOL:
        weir_json_bool(value, &truth);
        return truth ? "true" : "false";
    case WEIR_JSON_NUMBER:
        if (weir_json_u64(value, &whole)) return weir_format("%" PRIu64, whole);
        weir_json_number(value, &number);
        return weir_format("%.17g", number);
    case WEIR_JSON_STRING:
        return weir_json_quote(weir_json_string(value));
    case WEIR_JSON_ARRAY:
    case WEIR_JSON_OBJECT: {
        bool object = weir_json_kind_of(value) == WEIR_JSON_OBJECT;
        char *out = "";
        for (size_t i = 0; i < weir_json_length(value); i++) {
            char *key = object ? weir_format("%s:", weir_json_quote(weir_json_key(value, i))) : "";
            out = weir_format("%s%s%s%s", out, i ? "," : "", key, write_json(weir_json_item(value, i)));
        }
        return object ? weir_format("{%s}", out) : weir_format("[%s]", out);
    }
    default:
        return "null";
    }
}

weir_outcome weir_handle(const weir_event *event) {
    weir_json *cases = weir_event_json(event);
    if (!cases) return weir_fail("%s", weir_json_last_error());
    char *results = "";
    for (size_t i = 0; i < weir_json_length(cases); i++) {
        const char *text = weir_json_string(weir_json_item(cases, i));
        if (!text) return weir_fail("case %zu is not a string", i);
        weir_json *parsed = weir_json_parse((const uint8_t *)text, strlen(text));
        char *result = parsed ? weir_format("{\"value\":%s}", write_json(parsed))
                              : weir_format("{\"error\":%s}", weir_json_quote(weir_json_last_error()));
        results = weir_format("%s%s%s", results, i ? "," : "", result);
    }
    return weir_emit(weir_new_event_json("json.checked", weir_format("[%s]", results)));
}
