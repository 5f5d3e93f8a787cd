/*
 * The C SDK: exports the plugin's weir_handle to weir through the bindings
 * wit-bindgen generates from weir's WIT (handler_plugin.h), and the helpers
 * weir_plugin.h declares. Every string handed back to the host is allocated,
 * because the bindings free the outcome after the host has read it.
 */
#include "weir_plugin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler_plugin.h"
#include "weir_memory.h"

enum { OUTCOME_ACK, OUTCOME_EMIT, OUTCOME_RETRY_LATER, OUTCOME_FAIL };

struct weir_new_event {
    char *type;
    char *source;
    char *subject;
    char *datacontenttype;
    uint8_t *data;
    size_t data_len;
    weir_extension *extensions;
    size_t extensions_len;
};

/* ---- text ---- */

static char *vformat(const char *format, va_list args) {
    va_list again;
    va_copy(again, args);
    int len = vsnprintf(NULL, 0, format, args);
    char *text = allocate(len > 0 ? (size_t)len + 1 : 1);
    if (len > 0) vsnprintf(text, (size_t)len + 1, format, again);
    va_end(again);
    return text;
}

char *weir_format(const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *text = vformat(format, args);
    va_end(args);
    return text;
}

/* The code point at `text` and its length in bytes (1 for a stray byte). */
static uint32_t decode_utf8(const unsigned char *text, size_t *len) {
    if (text[0] < 0x80) return *len = 1, text[0];
    size_t need = text[0] >= 0xF0 ? 4 : text[0] >= 0xE0 ? 3 : text[0] >= 0xC0 ? 2 : 1;
    uint32_t point = text[0] & (0x7F >> need);
    for (size_t i = 1; i < need; i++) {
        if ((text[i] & 0xC0) != 0x80) return *len = 1, text[0];
        point = (point << 6) | (text[i] & 0x3F);
    }
    *len = need;
    return point;
}

/* Unicode's White_Space property, as Rust's char::is_whitespace has it. */
static bool is_white_space(uint32_t point) {
    return (point >= 0x09 && point <= 0x0D) || point == 0x20 || point == 0x85 || point == 0xA0 ||
           point == 0x1680 || (point >= 0x2000 && point <= 0x200A) || point == 0x2028 ||
           point == 0x2029 || point == 0x202F || point == 0x205F || point == 0x3000;
}

char *weir_trim(const char *text) {
    const unsigned char *start = (const unsigned char *)text, *end = start + strlen(text);
    const unsigned char *kept_end = start;
    bool leading = true;
    for (const unsigned char *at = start; at < end;) {
        size_t len;
        uint32_t point = decode_utf8(at, &len);
        if (leading && is_white_space(point)) {
            start = at + len;
        } else {
            leading = false;
            if (!is_white_space(point)) kept_end = at + len;
        }
        at += len;
    }
    return copy_n((const char *)start, kept_end > start ? (size_t)(kept_end - start) : 0);
}

/* ---- the host's strings and lists ---- */

static char *from_host(handler_plugin_string_t text) { return copy_n((const char *)text.ptr, text.len); }

static char *from_host_option(handler_plugin_option_string_t text) {
    return text.is_some ? from_host(text.val) : NULL;
}

static handler_plugin_string_t to_host(const char *text) {
    handler_plugin_string_t out;
    handler_plugin_string_dup(&out, text ? text : "");
    return out;
}

static handler_plugin_option_string_t to_host_option(const char *text) {
    handler_plugin_option_string_t out = {.is_some = text != NULL};
    if (text) out.val = to_host(text);
    return out;
}

/* ---- the export ---- */

void exports_weir_plugin_handler_handle(exports_weir_plugin_handler_event_t *raw,
                                        exports_weir_plugin_handler_outcome_t *ret) {
    weir_extension *extensions = allocate(raw->extensions.len * sizeof *extensions);
    for (size_t i = 0; i < raw->extensions.len; i++) {
        extensions[i].name = from_host(raw->extensions.ptr[i].f0);
        extensions[i].value = from_host(raw->extensions.ptr[i].f1);
    }
    uint8_t *data = allocate(raw->data.len + 1);
    memcpy(data, raw->data.ptr, raw->data.len);
    weir_event event = {
        .id = from_host(raw->id),
        .source = from_host(raw->source),
        .type = from_host(raw->type),
        .subject = from_host_option(raw->subject),
        .time = from_host_option(raw->time),
        .datacontenttype = from_host_option(raw->datacontenttype),
        .data = data,
        .data_len = raw->data.len,
        .tenant = from_host(raw->tenant),
        .extensions = extensions,
        .extensions_len = raw->extensions.len,
        .attempt = raw->attempt,
    };
    weir_outcome outcome = weir_handle(&event);
    ret->tag = (uint8_t)outcome.kind;
    switch (outcome.kind) {
    case OUTCOME_EMIT: {
        weir_plugin_types_new_event_t *events = allocate(outcome.events_len * sizeof *events);
        for (size_t i = 0; i < outcome.events_len; i++) {
            const weir_new_event *from = outcome.events[i];
            weir_plugin_types_new_event_t *to = &events[i];
            to->type = to_host(from->type);
            to->source = to_host_option(from->source);
            to->subject = to_host_option(from->subject);
            to->datacontenttype = to_host_option(from->datacontenttype);
            to->data.ptr = allocate(from->data_len);
            memcpy(to->data.ptr, from->data, from->data_len);
            to->data.len = from->data_len;
            to->extensions.ptr = allocate(from->extensions_len * sizeof *to->extensions.ptr);
            to->extensions.len = from->extensions_len;
            for (size_t e = 0; e < from->extensions_len; e++) {
                to->extensions.ptr[e].f0 = to_host(from->extensions[e].name);
                to->extensions.ptr[e].f1 = to_host(from->extensions[e].value);
            }
        }
        ret->val.emit.ptr = events;
        ret->val.emit.len = outcome.events_len;
        break;
    }
    case OUTCOME_RETRY_LATER:
        ret->val.retry_later = outcome.retry_after_ms;
        break;
    case OUTCOME_FAIL:
        ret->val.fail = to_host(outcome.reason);
        break;
    default:
        ret->tag = OUTCOME_ACK;
    }
}

/* ---- outcomes and events ---- */

weir_outcome weir_ack(void) { return (weir_outcome){.kind = OUTCOME_ACK}; }

weir_outcome weir_emit(weir_new_event *event) { return weir_emit_all(&event, 1); }

weir_outcome weir_emit_all(weir_new_event **events, size_t count) {
    weir_new_event **kept = allocate(count * sizeof *kept);
    memcpy(kept, events, count * sizeof *kept);
    return (weir_outcome){.kind = OUTCOME_EMIT, .events = kept, .events_len = count};
}

weir_outcome weir_retry_later(uint32_t milliseconds) {
    return (weir_outcome){.kind = OUTCOME_RETRY_LATER, .retry_after_ms = milliseconds};
}

weir_outcome weir_fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *reason = vformat(format, args);
    va_end(args);
    return (weir_outcome){.kind = OUTCOME_FAIL, .reason = reason};
}

weir_new_event *weir_new_event_raw(const char *type, const uint8_t *data, size_t len,
                                   const char *datacontenttype) {
    weir_new_event *event = allocate(sizeof *event);
    event->type = copy(type);
    event->data = allocate(len);
    memcpy(event->data, data, len);
    event->data_len = len;
    event->datacontenttype = copy(datacontenttype);
    return event;
}

weir_new_event *weir_new_event_json(const char *type, const char *json) {
    return weir_new_event_raw(type, (const uint8_t *)json, strlen(json), "application/json");
}

void weir_new_event_subject(weir_new_event *event, const char *subject) {
    event->subject = copy(subject);
}

void weir_new_event_source(weir_new_event *event, const char *source) {
    event->source = copy(source);
}

void weir_new_event_extension(weir_new_event *event, const char *name, const char *value) {
    event->extensions =
        grow(event->extensions, (event->extensions_len + 1) * sizeof *event->extensions);
    event->extensions[event->extensions_len++] = (weir_extension){copy(name), copy(value)};
}

const char *weir_event_extension(const weir_event *event, const char *name) {
    for (size_t i = 0; i < event->extensions_len; i++) {
        if (strcmp(event->extensions[i].name, name) == 0) return event->extensions[i].value;
    }
    return NULL;
}

/* ---- log, state, config ---- */

static void log_at(weir_plugin_log_level_t level, const char *format, va_list args) {
    handler_plugin_string_t context, message;
    handler_plugin_string_set(&context, "");
    char *text = vformat(format, args);
    handler_plugin_string_set(&message, text);
    weir_plugin_log_log(level, &context, &message);
    free(text);
}

#define LOG_FUNCTION(name, level)                                                                  \
    void name(const char *format, ...) {                                                           \
        va_list args;                                                                              \
        va_start(args, format);                                                                    \
        log_at(level, format, args);                                                               \
        va_end(args);                                                                              \
    }
LOG_FUNCTION(weir_log_debug, WEIR_PLUGIN_LOG_LEVEL_DEBUG)
LOG_FUNCTION(weir_log_info, WEIR_PLUGIN_LOG_LEVEL_INFO)
LOG_FUNCTION(weir_log_warn, WEIR_PLUGIN_LOG_LEVEL_WARN)
LOG_FUNCTION(weir_log_error, WEIR_PLUGIN_LOG_LEVEL_ERROR)

bool weir_state_get(const char *key, uint8_t **value, size_t *len) {
    handler_plugin_string_t host_key;
    handler_plugin_string_set(&host_key, key);
    handler_plugin_list_u8_t found;
    if (!weir_plugin_state_get(&host_key, &found)) return false;
    *value = allocate(found.len + 1);
    memcpy(*value, found.ptr, found.len);
    *len = found.len;
    handler_plugin_list_u8_free(&found);
    return true;
}

void weir_state_set(const char *key, const uint8_t *value, size_t len) {
    handler_plugin_string_t host_key;
    handler_plugin_string_set(&host_key, key);
    handler_plugin_list_u8_t host_value = {.ptr = (uint8_t *)value, .len = len};
    weir_plugin_state_set(&host_key, &host_value);
}

void weir_state_delete(const char *key) {
    handler_plugin_string_t host_key;
    handler_plugin_string_set(&host_key, key);
    weir_plugin_state_delete(&host_key);
}

const char *weir_config(const char *key) {
    handler_plugin_string_t host_key, value;
    handler_plugin_string_set(&host_key, key);
    if (!weir_plugin_config_get(&host_key, &value)) return NULL;
    char *text = from_host(value);
    handler_plugin_string_free(&value);
    return text;
}
