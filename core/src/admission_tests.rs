//! Admission control: each mark sheds from its high-water mark until its
//! measure is back at its low one, a quota holds back its tenant alone, and a
//! request over any tenant's rate is refused whole.

use std::collections::BTreeMap;

use crate::admission::{AdmissionControl, Shed};
use crate::backlog::Backlog;
use crate::config::{Config, Overrides};

fn config(text: &str) -> Config {
    Config::from_toml(text, Overrides::default()).expect("a valid config")
}

fn events(per_tenant: &[(&'static str, usize)]) -> BTreeMap<&'static str, usize> {
    per_tenant.iter().copied().collect()
}

#[test]
fn the_backlog_mark_sheds_until_the_backlog_is_back_at_its_low_water_mark() {
    let config = config("[ingest]\nbacklog_high_water = 10\nbacklog_low_water = 5\n");
    let (admission, backlog) = (AdmissionControl::default(), Backlog::default());
    let check = || admission.check_load(&config.ingest, &backlog);

    backlog.change("acme", 9);
    assert!(check().is_ok());
    backlog.change("acme", 1);
    let Err(Shed::Overloaded { message, .. }) = check() else {
        panic!("10 waiting is at the high-water mark");
    };
    assert!(message.contains("10 deliveries are waiting"), "{message}");
    backlog.change("acme", -4);
    assert!(check().is_err(), "6 is still above the low-water mark");
    backlog.change("acme", -1);
    assert!(check().is_ok());
}

#[test]
fn the_oldest_ready_mark_sheds_on_how_long_a_delivery_has_waited() {
    let config =
        config("[ingest]\noldest_ready_high_water_ms = 1000\noldest_ready_low_water_ms = 500\n");
    let (admission, backlog) = (AdmissionControl::default(), Backlog::default());

    backlog.set_oldest_ready_ms(1500);
    let Err(Shed::Overloaded { message, .. }) = admission.check_load(&config.ingest, &backlog)
    else {
        panic!("a delivery waited past the mark");
    };
    assert!(message.contains("1500 ms"), "{message}");
    backlog.set_oldest_ready_ms(400);
    assert!(admission.check_load(&config.ingest, &backlog).is_ok());
}

#[test]
fn a_tenant_over_its_backlog_quota_is_refused_and_the_others_are_not() {
    let config = config("[tenants.acme]\nbacklog_high_water = 3\nbacklog_low_water = 1\n");
    let (admission, backlog) = (AdmissionControl::default(), Backlog::default());
    backlog.change("acme", 3);
    backlog.change("globex", 50);

    let Err(Shed::OverQuota { message, .. }) =
        admission.check_quotas(&config, &backlog, &events(&[("acme", 1)]))
    else {
        panic!("acme is at its quota");
    };
    assert!(message.contains("\"acme\" has 3 deliveries"), "{message}");
    let others = events(&[("globex", 1)]);
    assert!(admission.check_quotas(&config, &backlog, &others).is_ok());
    backlog.change("acme", -2);
    assert!(
        admission
            .check_quotas(&config, &backlog, &events(&[("acme", 1)]))
            .is_ok()
    );
}

#[test]
fn a_request_over_one_tenants_rate_takes_no_tokens_from_any() {
    let config = config(
        "[tenants.acme]\nrate_per_sec = 1\nburst = 5\n[tenants.globex]\nrate_per_sec = 1\nburst = 2\n",
    );
    let admission = AdmissionControl::default();

    assert!(
        admission
            .take_tokens(&config, &events(&[("acme", 4)]))
            .is_ok()
    );
    let Err(Shed::RateLimited {
        retry_after_secs, ..
    }) = admission.take_tokens(&config, &events(&[("acme", 1), ("globex", 3)]))
    else {
        panic!("globex's burst is 2");
    };
    assert!(retry_after_secs >= 1);
    // Refused whole: acme still has its last token, globex both of its.
    assert!(
        admission
            .take_tokens(&config, &events(&[("acme", 1), ("globex", 2)]))
            .is_ok()
    );
    assert!(
        admission
            .take_tokens(&config, &events(&[("acme", 1)]))
            .is_err()
    );
}
