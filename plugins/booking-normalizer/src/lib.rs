//! Turns a channel's booking webhook (`booking.webhook`) into one channel-neutral
//! `booking.normalized` event, ordered per listing by its `partitionkey`.
//!
//! Every field is read by its path so that a bad webhook fails with a message
//! naming the field, such as `missing field reservation.listing_id`.

use serde::Serialize;
use serde_json::Value;
use weir_plugin_sdk::{Error, Event, NewEvent, Outcome, handler, log};

/// The event type this plugin handles.
const INPUT: &str = "booking.webhook";
/// The event type it emits.
const OUTPUT: &str = "booking.normalized";

/// A booking in the same shape whatever channel it came from.
#[derive(Debug, Serialize)]
struct Booking {
    /// `<channel>:<the channel's reservation id>`, unique across channels.
    booking_id: String,
    listing_id: String,
    guest_name: String,
    /// `YYYY-MM-DD`, as sent.
    check_in: String,
    /// `YYYY-MM-DD`, as sent; always after `check_in`.
    check_out: String,
    nights: i64,
    /// The payout in the currency's minor unit, so sums never drift.
    total_cents: i64,
    currency: String,
    channel: &'static str,
}

fn handle(event: Event) -> Result<Outcome, Error> {
    if event.type_ != INPUT {
        return Err(Error::new(format!(
            "booking-normalizer does not handle type {}",
            event.type_
        )));
    }
    let booking = normalize(&event.json()?)?;
    log::info(format!(
        "normalized {} for listing {}: {} nights, {} cents {}",
        booking.booking_id,
        booking.listing_id,
        booking.nights,
        booking.total_cents,
        booking.currency
    ));
    let listing = booking.listing_id.clone();
    let normalized = NewEvent::json(OUTPUT, &booking)?
        .subject(&listing)
        .extension("partitionkey", listing);
    Ok(Outcome::Emit(vec![normalized]))
}

handler!(handle);

/// Reads a webhook in whichever shape its `channel` uses.
fn normalize(data: &Value) -> Result<Booking, Error> {
    match text(data, "channel")? {
        "airbnb" => airbnb(data),
        "booking.com" => booking_com(data),
        other => Err(Error::new(format!("unknown channel {other:?}"))),
    }
}

/// `{"channel":"airbnb","reservation":{"code","listing_id","guest":{..},"start_date",
/// "end_date","payout":{"amount":"412.50","currency"}}}`
fn airbnb(data: &Value) -> Result<Booking, Error> {
    let guest_name = format!(
        "{} {}",
        text(data, "reservation.guest.first_name")?,
        text(data, "reservation.guest.last_name")?
    );
    let (check_in, check_out, nights) =
        stay(data, "reservation.start_date", "reservation.end_date")?;
    Ok(Booking {
        booking_id: format!("airbnb:{}", text(data, "reservation.code")?),
        listing_id: text(data, "reservation.listing_id")?.to_owned(),
        guest_name,
        check_in,
        check_out,
        nights,
        total_cents: decimal_cents(data, "reservation.payout.amount")?,
        currency: currency(data, "reservation.payout.currency")?,
        channel: "airbnb",
    })
}

/// `{"channel":"booking.com","reservation_id":98765,"hotel_id","guest_name","checkin",
/// "checkout","total_price":412.5,"currency"}`
fn booking_com(data: &Value) -> Result<Booking, Error> {
    let reservation = match field(data, "reservation_id")? {
        Value::Number(n) if n.is_u64() => n.to_string(),
        Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return Err(invalid("reservation_id", "expected a positive integer")),
    };
    let (check_in, check_out, nights) = stay(data, "checkin", "checkout")?;
    Ok(Booking {
        booking_id: format!("booking.com:{reservation}"),
        listing_id: text(data, "hotel_id")?.to_owned(),
        guest_name: text(data, "guest_name")?.to_owned(),
        check_in,
        check_out,
        nights,
        total_cents: number_cents(data, "total_price")?,
        currency: currency(data, "currency")?,
        channel: "booking.com",
    })
}

/// The value at a dotted `path`; absent and `null` are both missing.
fn field<'a>(data: &'a Value, path: &str) -> Result<&'a Value, Error> {
    path.split('.')
        .try_fold(data, |value, key| value.get(key))
        .filter(|value| !value.is_null())
        .ok_or_else(|| Error::new(format!("missing field {path}")))
}

/// A non-empty string at `path`, trimmed.
fn text<'a>(data: &'a Value, path: &str) -> Result<&'a str, Error> {
    field(data, path)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(path, "expected a non-empty string"))
}

fn invalid(path: &str, expected: &str) -> Error {
    Error::new(format!("invalid field {path}: {expected}"))
}

/// Check-in, check-out and the nights between them; check-out must be later.
fn stay(data: &Value, from: &str, to: &str) -> Result<(String, String, i64), Error> {
    let (check_in, check_out) = (text(data, from)?, text(data, to)?);
    let nights = day_number(check_out, to)? - day_number(check_in, from)?;
    if nights <= 0 {
        return Err(Error::new(format!(
            "{to} {check_out} is not after {from} {check_in}"
        )));
    }
    Ok((check_in.to_owned(), check_out.to_owned(), nights))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn day_number(date: &str, path: &str) -> Result<i64, Error> {
    let bad = || invalid(path, "expected a date YYYY-MM-DD");
    let digits = |range: std::ops::Range<usize>| -> Result<i64, Error> {
        let part = date.get(range).ok_or_else(bad)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let bytes = date.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(bad());
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01 in the proleptic
/// Gregorian calendar, for a valid date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A decimal string such as `"412.50"` in cents, exactly (at most two decimals).
fn decimal_cents(data: &Value, path: &str) -> Result<i64, Error> {
    let bad = || invalid(path, "expected a decimal string such as \"412.50\"");
    let amount = text(data, path)?;
    let (units, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if units.is_empty() || fraction.len() > 2 || !all_digits(units) || !all_digits(fraction) {
        return Err(bad());
    }
    let units: i64 = units.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    units
        .checked_mul(100)
        .and_then(|c| c.checked_add(cents))
        .ok_or_else(bad)
}

/// A JSON number of currency units in cents, rounded to the nearest cent.
fn number_cents(data: &Value, path: &str) -> Result<i64, Error> {
    /// Far above any booking, far below where `f64` stops counting cents exactly.
    const MAX_UNITS: f64 = 1e12;
    field(data, path)?
        .as_f64()
        .filter(|units| (0.0..MAX_UNITS).contains(units))
        .map(|units| (units * 100.0).round() as i64)
        .ok_or_else(|| invalid(path, "expected a non-negative number"))
}

/// An ISO 4217 code such as `EUR`.
fn currency(data: &Value, path: &str) -> Result<String, Error> {
    let code = text(data, path)?;
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code.to_owned())
    } else {
        Err(invalid(path, "expected a currency code such as EUR"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn airbnb_webhook() -> Value {
        json!({"channel":"airbnb","reservation":{"code":"HM123","listing_id":"L1",
            "guest":{"first_name":"Ada","last_name":"Lovelace"},
            "start_date":"2026-12-01","end_date":"2026-12-04",
            "payout":{"amount":"412.50","currency":"EUR"}}})
    }

    fn error(data: &Value) -> String {
        normalize(data).err().map(String::from).unwrap_or_default()
    }

    #[test]
    fn both_channels_normalize_to_the_same_shape() {
        let booking_com = json!({"channel":"booking.com","reservation_id":98765,
            "hotel_id":"L1","guest_name":"Ada Lovelace","checkin":"2026-12-01",
            "checkout":"2026-12-04","total_price":412.5,"currency":"EUR"});
        let expected = json!({"booking_id":"airbnb:HM123","listing_id":"L1",
            "guest_name":"Ada Lovelace","check_in":"2026-12-01","check_out":"2026-12-04",
            "nights":3,"total_cents":41250,"currency":"EUR","channel":"airbnb"});
        let to_json = |b: Booking| serde_json::to_value(b).unwrap_or_default();
        assert_eq!(
            normalize(&airbnb_webhook()).map(to_json),
            Ok(expected.clone())
        );
        let mut expected = expected;
        expected["booking_id"] = json!("booking.com:98765");
        expected["channel"] = json!("booking.com");
        assert_eq!(normalize(&booking_com).map(to_json), Ok(expected));
    }

    #[test]
    fn bad_webhooks_name_the_problem() {
        let mut data = airbnb_webhook();
        data["reservation"]["listing_id"] = Value::Null;
        assert_eq!(error(&data), "missing field reservation.listing_id");

        let mut data = airbnb_webhook();
        data["reservation"]["end_date"] = json!("2026-12-01");
        assert_eq!(
            error(&data),
            "reservation.end_date 2026-12-01 is not after reservation.start_date 2026-12-01"
        );

        let mut data = airbnb_webhook();
        data["reservation"]["payout"]["amount"] = json!("412.505");
        assert!(error(&data).starts_with("invalid field reservation.payout.amount"));

        let mut data = airbnb_webhook();
        data["reservation"]["start_date"] = json!("2026-02-30");
        assert!(error(&data).starts_with("invalid field reservation.start_date"));

        assert_eq!(
            error(&json!({"channel":"vrbo"})),
            "unknown channel \"vrbo\""
        );
        assert_eq!(error(&json!([])), "missing field channel");
    }

    #[test]
    fn money_and_dates_are_exact() {
        let cents = |amount: &str| decimal_cents(&json!({ "a": amount }), "a");
        assert_eq!(cents("412"), Ok(41_200));
        assert_eq!(cents("412.5"), Ok(41_250));
        assert_eq!(cents("0.07"), Ok(7));
        assert!(cents(".5").is_err() && cents("-1").is_err() && cents("1e3").is_err());
        assert_eq!(number_cents(&json!({"a": 0.29}), "a"), Ok(29));
        assert_eq!(number_cents(&json!({"a": 19.99}), "a"), Ok(1_999));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            day_number("2028-03-01", "d").and_then(|end| Ok(end - day_number("2028-02-28", "d")?)),
            Ok(2)
        );
    }
}
