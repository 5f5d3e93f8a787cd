//! Keeps running totals per listing and answers each change with a new nightly
//! price: `booking.normalized` adds a booking, `pricing.recalculate` only reprices.
//!
//! The price rises linearly with the nights already booked, from the base price
//! up to `max_surge_percent` more once [`SURGE_FULL_AT_NIGHTS`] nights are booked.

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::{Error, Event, NewEvent, Outcome, config, handler, state};

/// The event type this plugin emits.
const OUTPUT: &str = "price.updated";
/// Booked nights at which the full surge applies; more nights add nothing.
const SURGE_FULL_AT_NIGHTS: u64 = 30;

/// The fields of a `booking.normalized` event that pricing needs.
#[derive(Deserialize)]
struct Booking {
    listing_id: String,
    nights: u64,
    total_cents: u64,
}

/// The data of a `pricing.recalculate` event.
#[derive(Deserialize)]
struct Recalculate {
    listing_id: String,
}

/// What is kept per listing, under the state key `listing:<id>`.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Totals {
    bookings: u64,
    booked_nights: u64,
    /// Sum of the bookings' `total_cents`, in whatever currencies they came in.
    revenue_cents: u64,
}

/// The pricing settings from the plugin's config.
struct Pricing {
    /// `base_price_cents`: the nightly price with nothing booked.
    base_cents: u64,
    /// `max_surge_percent`: how much above base the price goes at full surge.
    max_surge_percent: u64,
    /// `currency`: the currency of the prices.
    currency: String,
}

/// The data of a `price.updated` event.
#[derive(Serialize)]
struct PriceUpdated<'a> {
    listing_id: &'a str,
    nightly_price_cents: u64,
    booked_nights: u64,
    bookings: u64,
    currency: &'a str,
}

fn handle(event: Event) -> Result<Outcome, Error> {
    let pricing = Pricing::from_config()?;
    let (listing_id, booking) = match event.type_.as_str() {
        "booking.normalized" => {
            let booking: Booking = event.json()?;
            (booking.listing_id.clone(), Some(booking))
        }
        "pricing.recalculate" => (event.json::<Recalculate>()?.listing_id, None),
        other => {
            return Err(Error::new(format!(
                "price-calculator does not handle type {other}"
            )));
        }
    };
    if listing_id.is_empty() {
        return Err(Error::new("invalid field listing_id: empty"));
    }

    let key = format!("listing:{listing_id}");
    let mut totals: Totals = state::get_json(&key)?.unwrap_or_default();
    if let Some(booking) = booking {
        totals.add(&booking);
        state::set_json(&key, &totals)?;
    }

    let update = PriceUpdated {
        listing_id: &listing_id,
        nightly_price_cents: pricing.nightly_price(totals.booked_nights)?,
        booked_nights: totals.booked_nights,
        bookings: totals.bookings,
        currency: &pricing.currency,
    };
    Ok(Outcome::Emit(vec![
        NewEvent::json(OUTPUT, &update)?.subject(listing_id.as_str()),
    ]))
}

handler!(handle);

impl Totals {
    fn add(&mut self, booking: &Booking) {
        self.bookings = self.bookings.saturating_add(1);
        self.booked_nights = self.booked_nights.saturating_add(booking.nights);
        self.revenue_cents = self.revenue_cents.saturating_add(booking.total_cents);
    }
}

impl Pricing {
    fn from_config() -> Result<Self, Error> {
        Ok(Self {
            base_cents: config::parse_or("base_price_cents", 10_000)?,
            max_surge_percent: config::parse_or("max_surge_percent", 50)?,
            currency: config::get_or("currency", "EUR"),
        })
    }

    /// `base + base * surge% * min(nights, 30) / 30`, rounded down, in integers.
    fn nightly_price(&self, booked_nights: u64) -> Result<u64, Error> {
        let base = u128::from(self.base_cents);
        let nights = u128::from(booked_nights.min(SURGE_FULL_AT_NIGHTS));
        let surge = base * u128::from(self.max_surge_percent) * nights
            / (100 * u128::from(SURGE_FULL_AT_NIGHTS));
        u64::try_from(base + surge).map_err(|_| {
            Error::new("nightly price overflows: lower base_price_cents or max_surge_percent")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_grows_with_booked_nights_up_to_the_cap() {
        let pricing = Pricing {
            base_cents: 10_000,
            max_surge_percent: 50,
            currency: "EUR".into(),
        };
        assert_eq!(pricing.nightly_price(0), Ok(10_000));
        assert_eq!(pricing.nightly_price(3), Ok(10_500));
        assert_eq!(pricing.nightly_price(7), Ok(11_166));
        assert_eq!(pricing.nightly_price(30), Ok(15_000));
        assert_eq!(pricing.nightly_price(300), Ok(15_000));
    }

    #[test]
    fn totals_accumulate_bookings() {
        let mut totals = Totals::default();
        let booking = Booking {
            listing_id: "L1".into(),
            nights: 3,
            total_cents: 41_250,
        };
        totals.add(&booking);
        totals.add(&booking);
        let expected = Totals {
            bookings: 2,
            booked_nights: 6,
            revenue_cents: 82_500,
        };
        assert_eq!(totals, expected);
    }
}
