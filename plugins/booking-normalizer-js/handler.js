// booking-normalizer in JavaScript: turns a channel's booking webhook
// (`booking.webhook`) into one channel-neutral `booking.normalized` event,
// ordered per listing by its `partitionkey`. The same behaviour as the Rust
// example (`plugins/booking-normalizer`), checked by
// `plugins/booking-normalizer.vectors.json`.
//
// componentize-js builds one file: the handler and its helpers live here.

import { log } from "weir:plugin/log@0.1.0";

const INPUT = "booking.webhook";
const OUTPUT = "booking.normalized";
// Far above any booking, far below where a double stops counting cents exactly.
const MAX_UNITS = 1e12;

/** A failure that sends the event to the dead letters with its message. */
class Fail extends Error {}

export const handler = {
  handle(event) {
    try {
      return handle(event);
    } catch (error) {
      return { tag: "fail", val: error instanceof Error ? error.message : String(error) };
    }
  },
};

function handle(event) {
  if (event.type !== INPUT) {
    throw new Fail(`booking-normalizer does not handle type ${event.type}`);
  }
  let data;
  try {
    data = JSON.parse(new TextDecoder().decode(event.data));
  } catch (error) {
    throw new Fail(`invalid ${event.type} data: ${error.message}`);
  }
  const booking = normalize(data);
  log("info", "", `normalized ${booking.booking_id} for listing ${booking.listing_id}: ` +
    `${booking.nights} nights, ${booking.total_cents} cents ${booking.currency}`);
  const listing = booking.listing_id;
  return {
    tag: "emit",
    val: [{
      type: OUTPUT,
      source: undefined,
      subject: listing,
      datacontenttype: "application/json",
      data: new TextEncoder().encode(JSON.stringify(booking)),
      extensions: [["partitionkey", listing]],
    }],
  };
}

function normalize(data) {
  const channel = text(data, "channel");
  if (channel === "airbnb") return airbnb(data);
  if (channel === "booking.com") return bookingCom(data);
  throw new Fail(`unknown channel ${JSON.stringify(channel)}`);
}

function airbnb(data) {
  const guest = `${text(data, "reservation.guest.first_name")} ${text(data, "reservation.guest.last_name")}`;
  const [checkIn, checkOut, nights] = stay(data, "reservation.start_date", "reservation.end_date");
  return booking(`airbnb:${text(data, "reservation.code")}`, text(data, "reservation.listing_id"),
    guest, checkIn, checkOut, nights, decimalCents(data, "reservation.payout.amount"),
    currency(data, "reservation.payout.currency"), "airbnb");
}

function bookingCom(data) {
  let reservation = field(data, "reservation_id");
  if (Number.isSafeInteger(reservation) && reservation >= 0) {
    reservation = String(reservation);
  } else if (typeof reservation === "string" && reservation.trim() !== "") {
    reservation = reservation.trim();
  } else {
    throw invalid("reservation_id", "expected a positive integer");
  }
  const [checkIn, checkOut, nights] = stay(data, "checkin", "checkout");
  return booking(`booking.com:${reservation}`, text(data, "hotel_id"), text(data, "guest_name"),
    checkIn, checkOut, nights, numberCents(data, "total_price"), currency(data, "currency"),
    "booking.com");
}

/** A booking in the same shape whatever channel it came from (key order included). */
function booking(booking_id, listing_id, guest_name, check_in, check_out, nights, total_cents,
  currency, channel) {
  return { booking_id, listing_id, guest_name, check_in, check_out, nights, total_cents, currency,
    channel };
}

/** The value at a dotted `path`; absent and null are both missing. */
function field(data, path) {
  let value = data;
  for (const key of path.split(".")) {
    const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
    value = isObject && Object.hasOwn(value, key) ? value[key] : undefined;
  }
  if (value === undefined || value === null) throw new Fail(`missing field ${path}`);
  return value;
}

/** A non-empty string at `path`, trimmed. */
function text(data, path) {
  const value = field(data, path);
  if (typeof value !== "string" || value.trim() === "") {
    throw invalid(path, "expected a non-empty string");
  }
  return value.trim();
}

function invalid(path, expected) {
  return new Fail(`invalid field ${path}: ${expected}`);
}

/** Check-in, check-out and the nights between them; check-out must be later. */
function stay(data, start, end) {
  const checkIn = text(data, start);
  const checkOut = text(data, end);
  const nights = dayNumber(checkOut, end) - dayNumber(checkIn, start);
  if (nights <= 0) throw new Fail(`${end} ${checkOut} is not after ${start} ${checkIn}`);
  return [checkIn, checkOut, nights];
}

/** Days since 1970-01-01 of a `YYYY-MM-DD` date. */
function dayNumber(date, path) {
  const match = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(date);
  const bad = invalid(path, "expected a date YYYY-MM-DD");
  if (!match) throw bad;
  const [year, month, day] = match.slice(1).map(Number);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) throw bad;
  return daysFromCivil(year, month, day);
}

function daysInMonth(year, month) {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (month === 2) return leap ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Howard Hinnant's days_from_civil, for a valid date. */
function daysFromCivil(year, month, day) {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/** A decimal string such as "412.50" in cents, exactly (at most two decimals). */
function decimalCents(data, path) {
  const match = /^([0-9]+)(?:\.([0-9]{0,2}))?$/.exec(text(data, path));
  const cents = match && BigInt(match[1]) * 100n + BigInt((match[2] ?? "").padEnd(2, "0"));
  // Beyond 2^53 a JSON number would lose cents: refuse rather than round.
  if (!match || cents > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid(path, 'expected a decimal string such as "412.50"');
  }
  return Number(cents);
}

/** A JSON number of currency units in cents, rounded half away from zero. */
function numberCents(data, path) {
  const units = field(data, path);
  if (typeof units !== "number" || !(units >= 0 && units < MAX_UNITS)) {
    throw invalid(path, "expected a non-negative number");
  }
  const scaled = units * 100;
  const whole = Math.floor(scaled);
  return scaled - whole >= 0.5 ? whole + 1 : whole;
}

/** An ISO 4217 code such as EUR. */
function currency(data, path) {
  const code = text(data, path);
  if (!/^[A-Z]{3}$/.test(code)) throw invalid(path, "expected a currency code such as EUR");
  return code;
}
