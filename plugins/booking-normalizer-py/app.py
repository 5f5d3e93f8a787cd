"""booking-normalizer in Python: turns a channel's booking webhook
(`booking.webhook`) into one channel-neutral `booking.normalized` event,
ordered per listing by its `partitionkey`. The same behaviour as the Rust
example (`plugins/booking-normalizer`), checked by `plugins/booking-normalizer.vectors.json`.
"""

import json
import math

from weir_plugin import Fail, emit, handler, log, new_event

INPUT = "booking.webhook"
OUTPUT = "booking.normalized"
# Far above any booking, far below where a float stops counting cents exactly.
MAX_UNITS = 1e12


@handler
def handle(event):
    if event.type != INPUT:
        raise Fail(f"booking-normalizer does not handle type {event.type}")
    booking = normalize(event.json())
    log.info(
        f"normalized {booking['booking_id']} for listing {booking['listing_id']}: "
        f"{booking['nights']} nights, {booking['total_cents']} cents {booking['currency']}"
    )
    listing = booking["listing_id"]
    return emit(new_event(OUTPUT, booking, subject=listing, extensions={"partitionkey": listing}))


def normalize(data):
    channel = text(data, "channel")
    if channel == "airbnb":
        return airbnb(data)
    if channel == "booking.com":
        return booking_com(data)
    raise Fail(f"unknown channel {json.dumps(channel, ensure_ascii=False)}")


def airbnb(data):
    guest = f"{text(data, 'reservation.guest.first_name')} {text(data, 'reservation.guest.last_name')}"
    check_in, check_out, nights = stay(data, "reservation.start_date", "reservation.end_date")
    return booking(
        f"airbnb:{text(data, 'reservation.code')}", text(data, "reservation.listing_id"), guest,
        check_in, check_out, nights, decimal_cents(data, "reservation.payout.amount"),
        currency(data, "reservation.payout.currency"), "airbnb",
    )


def booking_com(data):
    reservation = field(data, "reservation_id")
    if is_integer(reservation) and 0 <= reservation < 2**64:
        reservation = str(reservation)
    elif isinstance(reservation, str) and reservation.strip():
        reservation = reservation.strip()
    else:
        raise invalid("reservation_id", "expected a positive integer")
    check_in, check_out, nights = stay(data, "checkin", "checkout")
    return booking(
        f"booking.com:{reservation}", text(data, "hotel_id"), text(data, "guest_name"),
        check_in, check_out, nights, number_cents(data, "total_price"),
        currency(data, "currency"), "booking.com",
    )


def booking(booking_id, listing_id, guest_name, check_in, check_out, nights, total_cents,
            currency_code, channel):
    """A booking in the same shape whatever channel it came from (key order included)."""
    return {
        "booking_id": booking_id, "listing_id": listing_id, "guest_name": guest_name,
        "check_in": check_in, "check_out": check_out, "nights": nights,
        "total_cents": total_cents, "currency": currency_code, "channel": channel,
    }


def is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def field(data, path):
    """The value at a dotted `path`; absent and null are both missing."""
    value = data
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        raise Fail(f"missing field {path}")
    return value


def text(data, path):
    """A non-empty string at `path`, trimmed."""
    value = field(data, path)
    if not isinstance(value, str) or not value.strip():
        raise invalid(path, "expected a non-empty string")
    return value.strip()


def invalid(path, expected):
    return Fail(f"invalid field {path}: {expected}")


def stay(data, start, end):
    """Check-in, check-out and the nights between them; check-out must be later."""
    check_in, check_out = text(data, start), text(data, end)
    nights = day_number(check_out, end) - day_number(check_in, start)
    if nights <= 0:
        raise Fail(f"{end} {check_out} is not after {start} {check_in}")
    return check_in, check_out, nights


def day_number(date, path):
    """Days since 1970-01-01 of a `YYYY-MM-DD` date."""
    bad = invalid(path, "expected a date YYYY-MM-DD")
    parts = (date[0:4], date[5:7], date[8:10])
    if len(date) != 10 or date[4] != "-" or date[7] != "-" or not all(map(ascii_digits, parts)):
        raise bad
    year, month, day = map(int, parts)
    if not 1 <= month <= 12 or not 1 <= day <= days_in_month(year, month):
        raise bad
    return days_from_civil(year, month, day)


def ascii_digits(part):
    return part != "" and all("0" <= c <= "9" for c in part)


def days_in_month(year, month):
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if month == 2:
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_from_civil(year, month, day):
    """Howard Hinnant's days_from_civil, for a valid date."""
    year = year - 1 if month <= 2 else year
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def decimal_cents(data, path):
    """A decimal string such as "412.50" in cents, exactly (at most two decimals)."""
    bad = invalid(path, 'expected a decimal string such as "412.50"')
    amount = text(data, path)
    units, _, fraction = amount.partition(".")
    if not ascii_digits(units) or len(fraction) > 2 or not all("0" <= c <= "9" for c in fraction):
        raise bad
    cents = int(units) * 100 + int(fraction.ljust(2, "0"))
    if cents >= 2**63:
        raise bad
    return cents


def number_cents(data, path):
    """A JSON number of currency units in cents, rounded half away from zero."""
    units = field(data, path)
    if not (is_integer(units) or isinstance(units, float)) or not 0 <= units < MAX_UNITS:
        raise invalid(path, "expected a non-negative number")
    scaled = float(units) * 100.0
    whole = math.floor(scaled)
    return whole + 1 if scaled - whole >= 0.5 else whole


def currency(data, path):
    """An ISO 4217 code such as EUR."""
    code = text(data, path)
    if len(code) != 3 or not all("A" <= c <= "Z" for c in code):
        raise invalid(path, "expected a currency code such as EUR")
    return code
