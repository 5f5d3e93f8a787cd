/*
 * Write weir handler plugins in C.
 *
 * A handler is one function. The SDK exports it to weir and turns its
 * result into the delivery's outcome:
 *
 *     #include "weir_plugin.h"
 *
 *     weir_outcome weir_handle(const weir_event *event) {
 *         weir_json *signup = weir_event_json(event);
 *         if (!signup) return weir_fail("%s", weir_json_last_error());
 *         const char *user = weir_json_string(weir_json_at(signup, "user"));
 *         if (!user) return weir_fail("missing field user");
 *         weir_log_info("welcome %s", user);
 *         weir_new_event *welcome = weir_new_event_json(
 *             "email.welcome", weir_format("{\"user\":%s}", weir_json_quote(user)));
 *         weir_new_event_subject(welcome, user);
 *         return weir_emit(welcome);
 *     }
 *
 * Emitted events and state writes are buffered by the host and committed with
 * the delivery, so they take effect exactly once. Each delivery runs in a
 * fresh instance: memory the handler allocates is gone with it, so nothing
 * needs freeing. Every string the SDK takes or returns is UTF-8 and
 * NUL-terminated.
 *
 * `weir plugin build` compiles this SDK and the bindings for weir's WIT
 * with the plugin's .c files; see docs/writing-plugins.md.
 */
#ifndef WEIR_PLUGIN_H
#define WEIR_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One extension attribute of an event (partitionkey, priority, ...). */
typedef struct weir_extension {
    const char *name;
    const char *value;
} weir_extension;

/* The incoming event: CloudEvents attributes and its data. Optional
 * attributes the producer left out are NULL. */
typedef struct weir_event {
    const char *id;
    const char *source;
    const char *type;
    const char *subject;
    const char *time;
    const char *datacontenttype;
    const uint8_t *data;
    size_t data_len;
    const char *tenant;
    const weir_extension *extensions;
    size_t extensions_len;
    /* 1 on the first delivery, 2 on the first retry, and so on. */
    uint32_t attempt;
} weir_event;

/* An event to emit, made by weir_new_event_json or weir_new_event_raw. */
typedef struct weir_new_event weir_new_event;

/* What became of the delivery: made by weir_ack, weir_emit,
 * weir_retry_later or weir_fail, and returned from weir_handle. */
typedef struct weir_outcome {
    int kind;
    weir_new_event **events;
    size_t events_len;
    uint32_t retry_after_ms;
    const char *reason;
} weir_outcome;

/* The handler, written by the plugin. */
weir_outcome weir_handle(const weir_event *event);

/* Outcomes. */
weir_outcome weir_ack(void);
weir_outcome weir_emit(weir_new_event *event);
weir_outcome weir_emit_all(weir_new_event **events, size_t count);
weir_outcome weir_retry_later(uint32_t milliseconds);
/* The delivery goes to the dead letters with this reason (printf format). */
weir_outcome weir_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Events to emit: data as JSON text, or raw bytes of any content type. */
weir_new_event *weir_new_event_json(const char *type, const char *json);
weir_new_event *weir_new_event_raw(const char *type, const uint8_t *data, size_t len,
                                   const char *datacontenttype);
void weir_new_event_subject(weir_new_event *event, const char *subject);
void weir_new_event_source(weir_new_event *event, const char *source);
void weir_new_event_extension(weir_new_event *event, const char *name, const char *value);

/* The extension attribute `name` of the event, or NULL. */
const char *weir_event_extension(const weir_event *event, const char *name);

/* Logging into weir's log, printf-style. */
void weir_log_debug(const char *format, ...) __attribute__((format(printf, 1, 2)));
void weir_log_info(const char *format, ...) __attribute__((format(printf, 1, 2)));
void weir_log_warn(const char *format, ...) __attribute__((format(printf, 1, 2)));
void weir_log_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* State, scoped to this plugin and the event's tenant. weir_state_get returns
 * false if the key has no value; a value is NUL-terminated past its length. */
bool weir_state_get(const char *key, uint8_t **value, size_t *len);
void weir_state_set(const char *key, const uint8_t *value, size_t len);
void weir_state_delete(const char *key);

/* The plugin's config value `key` from weir.toml, or NULL. */
const char *weir_config(const char *key);

/* A printf-formatted string, allocated. */
char *weir_format(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* `text` with Unicode white space trimmed from both ends, allocated. */
char *weir_trim(const char *text);

/* ---- JSON ---- */

typedef enum weir_json_kind {
    WEIR_JSON_NULL,
    WEIR_JSON_BOOL,
    WEIR_JSON_NUMBER,
    WEIR_JSON_STRING,
    WEIR_JSON_ARRAY,
    WEIR_JSON_OBJECT,
} weir_json_kind;

/* A parsed JSON value. */
typedef struct weir_json weir_json;

/* `len` bytes of JSON text parsed, or NULL: weir_json_last_error says why. */
weir_json *weir_json_parse(const uint8_t *text, size_t len);
/* The event's data parsed as JSON, or NULL (the error names the event type). */
weir_json *weir_event_json(const weir_event *event);
/* Why the last parse failed. */
const char *weir_json_last_error(void);

weir_json_kind weir_json_kind_of(const weir_json *value);
/* The value at a dotted path of object keys ("reservation.guest.name"), or
 * NULL if any step is missing, not an object, or the value is null. */
const weir_json *weir_json_at(const weir_json *value, const char *path);
/* An object's member `key` (NULL if absent or not an object). */
const weir_json *weir_json_get(const weir_json *value, const char *key);
/* The items of an array or the members of an object, in order: how many
 * (0 for any other value), the value of each, and for an object its key
 * (NULL for an array). */
size_t weir_json_length(const weir_json *value);
const weir_json *weir_json_item(const weir_json *value, size_t index);
const char *weir_json_key(const weir_json *value, size_t index);
/* A string's text (NULL if not a string). */
const char *weir_json_string(const weir_json *value);
/* A number as a double; false if not a number. */
bool weir_json_number(const weir_json *value, double *out);
/* A number written as an integer (no fraction or exponent) that fits in
 * 64 unsigned bits; false otherwise. */
bool weir_json_u64(const weir_json *value, uint64_t *out);
/* true or false; false if not a boolean. */
bool weir_json_bool(const weir_json *value, bool *out);

/* `text` as a JSON string literal, quotes included, allocated. */
char *weir_json_quote(const char *text);

#ifdef __cplusplus
}
#endif

#endif
