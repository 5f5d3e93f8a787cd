/*
 * booking-normalizer in C: turns a channel's booking webhook (`booking.webhook`)
 * into one channel-neutral `booking.normalized` event, ordered per listing by
 * its `partitionkey`. The same behaviour as the Rust example
 * (plugins/booking-normalizer), checked by plugins/booking-normalizer.vectors.json.
 *
 * A check that finds bad input returns its reason as an allocated string (the
 * delivery fails with it); NULL means the check passed.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "weir_plugin.h"

#define INPUT "booking.webhook"
#define OUTPUT "booking.normalized"
/* Far above any booking, far below where a double stops counting cents exactly. */
#define MAX_UNITS 1e12

typedef struct booking {
    const char *booking_id, *listing_id, *guest_name, *check_in, *check_out, *currency,
        *channel;
    int64_t nights, total_cents;
} booking;

static char *invalid(const char *path, const char *expected) {
    return weir_format("invalid field %s: %s", path, expected);
}

/* The value at a dotted `path`; absent and null are both missing. */
static char *field(const weir_json *data, const char *path, const weir_json **out) {
    *out = weir_json_at(data, path);
    return *out ? NULL : weir_format("missing field %s", path);
}

/* A non-empty string at `path`, trimmed. */
static char *text(const weir_json *data, const char *path, const char **out) {
    const weir_json *value;
    char *error = field(data, path, &value);
    if (error) return error;
    const char *string = weir_json_string(value);
    *out = string ? weir_trim(string) : "";
    return **out ? NULL : invalid(path, "expected a non-empty string");
}

static bool is_leap(int64_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

static int64_t days_in_month(int64_t year, int64_t month) {
    if (month == 2) return is_leap(year) ? 29 : 28;
    return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
}

/* Howard Hinnant's days_from_civil, for a valid date. */
static int64_t days_from_civil(int64_t year, int64_t month, int64_t day) {
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* `len` ASCII digits at `text` as a number; false if any is not a digit or
 * the number does not fit in 63 bits. */
static bool digits(const char *text, size_t len, int64_t *out) {
    *out = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9' || __builtin_mul_overflow(*out, 10, out) ||
            __builtin_add_overflow(*out, text[i] - '0', out)) {
            return false;
        }
    }
    return len > 0;
}

/* Days since 1970-01-01 of a `YYYY-MM-DD` date. */
static char *day_number(const char *date, const char *path, int64_t *out) {
    int64_t year, month, day;
    if (strlen(date) != 10 || date[4] != '-' || date[7] != '-' || !digits(date, 4, &year) ||
        !digits(date + 5, 2, &month) || !digits(date + 8, 2, &day) || month < 1 || month > 12 ||
        day < 1 || day > days_in_month(year, month)) {
        return invalid(path, "expected a date YYYY-MM-DD");
    }
    *out = days_from_civil(year, month, day);
    return NULL;
}

/* Check-in, check-out and the nights between them; check-out must be later. */
static char *stay(const weir_json *data, const char *start, const char *end, booking *out) {
    int64_t first, last;
    char *error;
    if ((error = text(data, start, &out->check_in)) || (error = text(data, end, &out->check_out)) ||
        (error = day_number(out->check_out, end, &last)) ||
        (error = day_number(out->check_in, start, &first))) {
        return error;
    }
    out->nights = last - first;
    if (out->nights <= 0) {
        return weir_format("%s %s is not after %s %s", end, out->check_out, start, out->check_in);
    }
    return NULL;
}

/* A decimal string such as "412.50" in cents, exactly (at most two decimals). */
static char *decimal_cents(const weir_json *data, const char *path, int64_t *out) {
    const char *amount;
    char *error = text(data, path, &amount);
    if (error) return error;
    const char *point = strchr(amount, '.');
    size_t units_len = point ? (size_t)(point - amount) : strlen(amount);
    const char *fraction = point ? point + 1 : "";
    size_t fraction_len = strlen(fraction);
    int64_t units, cents = 0;
    if (!digits(amount, units_len, &units) || fraction_len > 2 ||
        (fraction_len > 0 && !digits(fraction, fraction_len, &cents)) ||
        __builtin_mul_overflow(units, 100, out) ||
        __builtin_add_overflow(*out, fraction_len == 1 ? cents * 10 : cents, out)) {
        return invalid(path, "expected a decimal string such as \"412.50\"");
    }
    return NULL;
}

/* A JSON number of currency units in cents, rounded half away from zero. */
static char *number_cents(const weir_json *data, const char *path, int64_t *out) {
    const weir_json *value;
    char *error = field(data, path, &value);
    if (error) return error;
    double units;
    if (!weir_json_number(value, &units) || !(units >= 0 && units < MAX_UNITS)) {
        return invalid(path, "expected a non-negative number");
    }
    double scaled = units * 100.0, whole = floor(scaled);
    *out = (int64_t)(scaled - whole >= 0.5 ? whole + 1 : whole);
    return NULL;
}

/* An ISO 4217 code such as EUR. */
static char *currency(const weir_json *data, const char *path, const char **out) {
    char *error = text(data, path, out);
    if (error) return error;
    const char *code = *out;
    for (size_t i = 0; i < 3; i++) {
        if (code[i] < 'A' || code[i] > 'Z') return invalid(path, "expected a currency code such as EUR");
    }
    return code[3] ? invalid(path, "expected a currency code such as EUR") : NULL;
}

static char *airbnb(const weir_json *data, booking *out) {
    const char *code, *first_name, *last_name;
    char *error;
    if ((error = text(data, "reservation.code", &code)) ||
        (error = text(data, "reservation.listing_id", &out->listing_id)) ||
        (error = text(data, "reservation.guest.first_name", &first_name)) ||
        (error = text(data, "reservation.guest.last_name", &last_name)) ||
        (error = stay(data, "reservation.start_date", "reservation.end_date", out)) ||
        (error = decimal_cents(data, "reservation.payout.amount", &out->total_cents)) ||
        (error = currency(data, "reservation.payout.currency", &out->currency))) {
        return error;
    }
    out->booking_id = weir_format("airbnb:%s", code);
    out->guest_name = weir_format("%s %s", first_name, last_name);
    out->channel = "airbnb";
    return NULL;
}

/* A reservation id: a positive integer, or a non-empty string (trimmed). */
static char *reservation_id(const weir_json *data, const char **out) {
    const weir_json *value;
    char *error = field(data, "reservation_id", &value);
    if (error) return error;
    uint64_t number;
    if (weir_json_u64(value, &number)) {
        *out = weir_format("%" PRIu64, number);
        return NULL;
    }
    const char *string = weir_json_string(value);
    *out = string ? weir_trim(string) : "";
    return **out ? NULL : invalid("reservation_id", "expected a positive integer");
}

static char *booking_com(const weir_json *data, booking *out) {
    const char *reservation;
    char *error;
    if ((error = reservation_id(data, &reservation)) ||
        (error = text(data, "hotel_id", &out->listing_id)) ||
        (error = text(data, "guest_name", &out->guest_name)) ||
        (error = stay(data, "checkin", "checkout", out)) ||
        (error = number_cents(data, "total_price", &out->total_cents)) ||
        (error = currency(data, "currency", &out->currency))) {
        return error;
    }
    out->booking_id = weir_format("booking.com:%s", reservation);
    out->channel = "booking.com";
    return NULL;
}

static char *normalize(const weir_json *data, booking *out) {
    const char *channel;
    char *error = text(data, "channel", &channel);
    if (error) return error;
    if (strcmp(channel, "airbnb") == 0) return airbnb(data, out);
    if (strcmp(channel, "booking.com") == 0) return booking_com(data, out);
    return weir_format("unknown channel %s", weir_json_quote(channel));
}

/* A booking in the same shape whatever channel it came from (key order included). */
static char *to_json(const booking *b) {
    return weir_format("{\"booking_id\":%s,\"listing_id\":%s,\"guest_name\":%s,\"check_in\":%s,"
                       "\"check_out\":%s,\"nights\":%" PRId64 ",\"total_cents\":%" PRId64
                       ",\"currency\":%s,\"channel\":%s}",
                       weir_json_quote(b->booking_id), weir_json_quote(b->listing_id),
                       weir_json_quote(b->guest_name), weir_json_quote(b->check_in),
                       weir_json_quote(b->check_out), b->nights, b->total_cents,
                       weir_json_quote(b->currency), weir_json_quote(b->channel));
}

weir_outcome weir_handle(const weir_event *event) {
    if (strcmp(event->type, INPUT) != 0) {
        return weir_fail("booking-normalizer does not handle type %s", event->type);
    }
    weir_json *data = weir_event_json(event);
    if (!data) return weir_fail("%s", weir_json_last_error());
    booking b = {0};
    char *error = normalize(data, &b);
    if (error) return weir_fail("%s", error);
    weir_log_info("normalized %s for listing %s: %" PRId64 " nights, %" PRId64 " cents %s",
                  b.booking_id, b.listing_id, b.nights, b.total_cents, b.currency);
    weir_new_event *normalized = weir_new_event_json(OUTPUT, to_json(&b));
    weir_new_event_subject(normalized, b.listing_id);
    weir_new_event_extension(normalized, "partitionkey", b.listing_id);
    return weir_emit(normalized);
}
