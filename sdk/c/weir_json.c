/*
 * The C SDK's JSON: a strict RFC 8259 reader into a tree, lookups by key and
 * dotted path, and string quoting for writing JSON with weir_format. Numbers
 * keep whether they were written as integers, so a handler can tell 7 from
 * 7.0 as the other SDKs do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_memory.h"
#include "weir_plugin.h"

/* Deeper nesting is refused rather than risking the stack. */
#define MAX_DEPTH 128

struct weir_json {
    weir_json_kind kind;
    bool boolean;
    double number;
    bool is_u64;
    uint64_t u64;
    char *string;
    /* Arrays and objects: items, and for objects the key of each. */
    weir_json **items;
    char **keys;
    size_t count;
};

typedef struct reader {
    const unsigned char *text;
    size_t len;
    size_t at;
    const char *error;
    size_t error_at;
} reader;

static char *last_error;

const char *weir_json_last_error(void) { return last_error ? last_error : "no error"; }

static weir_json *refuse(reader *in, const char *what) {
    if (!in->error) {
        in->error = what;
        in->error_at = in->at;
    }
    return NULL;
}

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void skip_space(reader *in) {
    while (in->at < in->len && is_space(in->text[in->at])) in->at++;
}

static bool take(reader *in, char expected) {
    skip_space(in);
    if (in->at < in->len && in->text[in->at] == (unsigned char)expected) {
        in->at++;
        return true;
    }
    return false;
}

static bool take_word(reader *in, const char *word) {
    size_t len = strlen(word);
    if (in->len - in->at < len || memcmp(in->text + in->at, word, len) != 0) return false;
    in->at += len;
    return true;
}

static int hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits after `\u`, or -1. */
static long read_hex4(reader *in) {
    if (in->len - in->at < 4) return -1;
    long value = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_digit(in->text[in->at + i]);
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    in->at += 4;
    return value;
}

static size_t encode_utf8(uint32_t point, char *out) {
    if (point < 0x80) return out[0] = (char)point, 1;
    if (point < 0x800) {
        out[0] = (char)(0xC0 | (point >> 6));
        out[1] = (char)(0x80 | (point & 0x3F));
        return 2;
    }
    if (point < 0x10000) {
        out[0] = (char)(0xE0 | (point >> 12));
        out[1] = (char)(0x80 | ((point >> 6) & 0x3F));
        out[2] = (char)(0x80 | (point & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (point >> 18));
    out[1] = (char)(0x80 | ((point >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((point >> 6) & 0x3F));
    out[3] = (char)(0x80 | (point & 0x3F));
    return 4;
}

/* The string starting at the opening quote, unescaped, or NULL. */
static char *read_string(reader *in) {
    in->at++;
    /* Unescaped text is never longer than the escaped. */
    char *out = allocate(in->len - in->at + 1);
    size_t len = 0;
    while (in->at < in->len) {
        unsigned char c = in->text[in->at];
        if (c < 0x20) return refuse(in, "a control character in a string"), NULL;
        in->at++;
        if (c == '"') {
            out[len] = '\0';
            return out;
        }
        if (c != '\\') {
            out[len++] = (char)c;
            continue;
        }
        if (in->at >= in->len) break;
        char escaped = (char)in->text[in->at++];
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *known = escaped ? strchr(from, escaped) : NULL;
        if (known) {
            out[len++] = to[known - from];
            continue;
        }
        if (escaped != 'u') return refuse(in, "an unknown escape in a string"), NULL;
        long point = read_hex4(in);
        if (point < 0) return refuse(in, "a bad \\u escape"), NULL;
        if (point >= 0xD800 && point <= 0xDBFF) {
            long low = take_word(in, "\\u") ? read_hex4(in) : -1;
            if (low < 0xDC00 || low > 0xDFFF) return refuse(in, "a lone surrogate"), NULL;
            point = 0x10000 + ((point - 0xD800) << 10) + (low - 0xDC00);
        } else if (point >= 0xDC00 && point <= 0xDFFF) {
            return refuse(in, "a lone surrogate"), NULL;
        }
        len += encode_utf8((uint32_t)point, out + len);
    }
    return refuse(in, "an unterminated string"), NULL;
}

static bool is_digit(reader *in) {
    return in->at < in->len && in->text[in->at] >= '0' && in->text[in->at] <= '9';
}

static weir_json *read_number(reader *in) {
    size_t start = in->at;
    bool negative = in->text[in->at] == '-', integer = true;
    if (negative) in->at++;
    if (!is_digit(in)) return refuse(in, "a number without digits");
    if (in->text[in->at] == '0') {
        in->at++;
    } else {
        while (is_digit(in)) in->at++;
    }
    if (in->at < in->len && in->text[in->at] == '.') {
        integer = false;
        in->at++;
        if (!is_digit(in)) return refuse(in, "a number without digits after its point");
        while (is_digit(in)) in->at++;
    }
    if (in->at < in->len && (in->text[in->at] == 'e' || in->text[in->at] == 'E')) {
        integer = false;
        in->at++;
        if (in->at < in->len && (in->text[in->at] == '+' || in->text[in->at] == '-')) in->at++;
        if (!is_digit(in)) return refuse(in, "a number without digits in its exponent");
        while (is_digit(in)) in->at++;
    }
    char *literal = copy_n((const char *)in->text + start, in->at - start);
    weir_json *value = allocate(sizeof *value);
    value->kind = WEIR_JSON_NUMBER;
    value->number = strtod(literal, NULL);
    if (integer && !negative) {
        value->is_u64 = true;
        for (const char *digit = literal; *digit && value->is_u64; digit++) {
            uint64_t next = value->u64 * 10 + (uint64_t)(*digit - '0');
            value->is_u64 = value->u64 <= UINT64_MAX / 10 && next >= value->u64 * 10;
            value->u64 = next;
        }
    }
    free(literal);
    return value;
}

static weir_json *read_value(reader *in, int depth);

static weir_json *read_container(reader *in, int depth, bool object) {
    if (depth >= MAX_DEPTH) return refuse(in, "nesting deeper than 128");
    in->at++;
    weir_json *value = allocate(sizeof *value);
    value->kind = object ? WEIR_JSON_OBJECT : WEIR_JSON_ARRAY;
    char close = object ? '}' : ']';
    if (take(in, close)) return value;
    do {
        char *key = NULL;
        if (object) {
            skip_space(in);
            if (in->at >= in->len || in->text[in->at] != '"') return refuse(in, "expected a key");
            if (!(key = read_string(in))) return NULL;
            if (!take(in, ':')) return refuse(in, "expected ':'");
        }
        weir_json *item = read_value(in, depth + 1);
        if (!item) return NULL;
        value->items = grow(value->items, (value->count + 1) * sizeof *value->items);
        value->keys = grow(value->keys, (value->count + 1) * sizeof *value->keys);
        value->items[value->count] = item;
        value->keys[value->count++] = key;
    } while (take(in, ','));
    if (!take(in, close)) return refuse(in, object ? "expected ',' or '}'" : "expected ',' or ']'");
    return value;
}

static weir_json *read_value(reader *in, int depth) {
    skip_space(in);
    if (in->at >= in->len) return refuse(in, "expected a value");
    weir_json *value;
    switch (in->text[in->at]) {
    case '{':
        return read_container(in, depth, true);
    case '[':
        return read_container(in, depth, false);
    case '"': {
        char *text = read_string(in);
        if (!text) return NULL;
        value = allocate(sizeof *value);
        value->kind = WEIR_JSON_STRING;
        value->string = text;
        return value;
    }
    case 't':
    case 'f':
    case 'n': {
        value = allocate(sizeof *value);
        if (take_word(in, "true")) {
            value->kind = WEIR_JSON_BOOL;
            value->boolean = true;
        } else if (take_word(in, "false")) {
            value->kind = WEIR_JSON_BOOL;
        } else if (take_word(in, "null")) {
            value->kind = WEIR_JSON_NULL;
        } else {
            return refuse(in, "expected a value");
        }
        return value;
    }
    default:
        if (in->text[in->at] == '-' || is_digit(in)) return read_number(in);
        return refuse(in, "expected a value");
    }
}

weir_json *weir_json_parse(const uint8_t *text, size_t len) {
    reader in = {.text = text, .len = len};
    weir_json *value = read_value(&in, 0);
    skip_space(&in);
    if (value && in.at < in.len) value = refuse(&in, "trailing characters");
    if (!value) last_error = weir_format("%s at byte %zu", in.error, in.error_at);
    return value;
}

weir_json *weir_event_json(const weir_event *event) {
    weir_json *value = weir_json_parse(event->data, event->data_len);
    if (!value) last_error = weir_format("invalid %s data: %s", event->type, last_error);
    return value;
}

weir_json_kind weir_json_kind_of(const weir_json *value) {
    return value ? value->kind : WEIR_JSON_NULL;
}

const weir_json *weir_json_get(const weir_json *value, const char *key) {
    if (!value || value->kind != WEIR_JSON_OBJECT) return NULL;
    /* The last of repeated keys wins, as in the other SDKs. */
    for (size_t i = value->count; i-- > 0;) {
        if (strcmp(value->keys[i], key) == 0) return value->items[i];
    }
    return NULL;
}

const weir_json *weir_json_at(const weir_json *value, const char *path) {
    char *steps = copy(path), *rest = steps;
    const weir_json *at = value;
    for (char *step = strsep(&rest, "."); step && at; step = strsep(&rest, ".")) {
        at = weir_json_get(at, step);
    }
    free(steps);
    return at && at->kind != WEIR_JSON_NULL ? at : NULL;
}

size_t weir_json_length(const weir_json *value) {
    bool container = value && (value->kind == WEIR_JSON_ARRAY || value->kind == WEIR_JSON_OBJECT);
    return container ? value->count : 0;
}

const weir_json *weir_json_item(const weir_json *value, size_t index) {
    return index < weir_json_length(value) ? value->items[index] : NULL;
}

const char *weir_json_key(const weir_json *value, size_t index) {
    bool member = value && value->kind == WEIR_JSON_OBJECT && index < value->count;
    return member ? value->keys[index] : NULL;
}

const char *weir_json_string(const weir_json *value) {
    return value && value->kind == WEIR_JSON_STRING ? value->string : NULL;
}

bool weir_json_number(const weir_json *value, double *out) {
    if (!value || value->kind != WEIR_JSON_NUMBER) return false;
    *out = value->number;
    return true;
}

bool weir_json_u64(const weir_json *value, uint64_t *out) {
    if (!value || value->kind != WEIR_JSON_NUMBER || !value->is_u64) return false;
    *out = value->u64;
    return true;
}

bool weir_json_bool(const weir_json *value, bool *out) {
    if (!value || value->kind != WEIR_JSON_BOOL) return false;
    *out = value->boolean;
    return true;
}

char *weir_json_quote(const char *text) {
    /* Worst case: every byte a six-character \u00XX escape. */
    static const char escaped[] = "\"\\\b\f\n\r\t", written[] = "\"\\bfnrt";
    char *out = allocate(strlen(text) * 6 + 3), *at = out;
    *at++ = '"';
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        const char *short_escape = strchr(escaped, *c);
        if (short_escape) {
            *at++ = '\\';
            *at++ = written[short_escape - escaped];
        } else if (*c < 0x20) {
            at += sprintf(at, "\\u%04x", *c);
        } else {
            *at++ = (char)*c;
        }
    }
    *at++ = '"';
    return out;
}
