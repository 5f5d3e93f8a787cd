//! The egress connector: a granted host name that resolves to a reserved
//! address (loopback here, weir's own port among them) is refused before any
//! connection, by every spelling; only a grant of the exact address opens
//! it. A delivery's requests and the bytes their bodies carry are capped, and a plugin's host resources
//! (`wasi:http` header maps, every handle) are bounded in number and size.

use serde_json::json;

use crate::capabilities::{Downstream, fetch, refusal};
use crate::support::{Workspace, delivery, settled_event};

/// weir.toml granting `plugin` the hosts `hosts`, routing `fetch.PLUGIN` to it.
fn granting(plugin: &str, hosts: &[String]) -> String {
    format!(
        r#"
[plugins.{plugin}]
max_attempts = 1
[plugins.{plugin}.capabilities]
http = {hosts:?}

[[route]]
name = "{plugin}"
match = {{ type = "fetch.{plugin}" }}
plugins = ["{plugin}"]
"#
    )
}

#[test]
fn a_granted_name_that_resolves_to_loopback_is_refused_in_every_spelling() {
    let downstream = Downstream::start();
    let port = downstream.addr.port();
    // Names the operator granted, each of which resolves to 127.0.0.1.
    let spellings = [
        format!("localhost:{port}"),
        format!("2130706433:{port}"),
        format!("127.1:{port}"),
        format!("0x7f000001:{port}"),
    ];
    let workspace =
        Workspace::with_named_plugins(&[("test-fetch", "named")], &granting("named", &spellings));
    let weir = workspace.start();
    let events: Vec<_> = spellings
        .iter()
        .enumerate()
        .map(|(n, authority)| fetch(&format!("named-{n}"), "fetch.named", authority))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    for (n, spelling) in spellings.iter().enumerate() {
        let error = refusal(&weir, &format!("named-{n}"), "named");
        assert!(
            error.contains("DestinationIpProhibited"),
            "{spelling}: {error}"
        );
    }
    // localhost may resolve to ::1 first where /etc/hosts lists it.
    let rule = " is loopback; grant the exact address in weir.toml to allow it";
    let log = weir.wait_for_log("each refusal to name the rule", |log| {
        log.matches(rule).count() == spellings.len()
    });
    assert!(
        log.contains(&format!("destination 127.0.0.1{rule}")),
        "{log}"
    );
    assert!(downstream.heads().is_empty(), "{:?}", downstream.heads());
    weir.stop();
}

/// `downstream`'s address, and a workspace where `test-fetch`, as `caller`,
/// is granted exactly that address.
fn caller_granted(downstream: &Downstream) -> (String, Workspace) {
    let authority = format!("127.0.0.1:{}", downstream.addr.port());
    let workspace = Workspace::with_named_plugins(
        &[("test-fetch", "caller")],
        &granting("caller", std::slice::from_ref(&authority)),
    );
    (authority, workspace)
}

#[test]
fn a_delivery_receives_at_most_its_body_bytes() {
    let downstream = Downstream::start();
    let (authority, workspace) = caller_granted(&downstream);
    let weir = workspace.start();
    let event = json!({"id": "big", "source": "tests", "type": "fetch.caller",
                       "data": {"authority": authority, "path": "/big/1", "read_body": true}});
    let answer = weir.post_json("/v1/events", &event.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    // The guest's stream fails once the delivery's bodies pass 32 MiB,
    // though the downstream sends 48, and the guest is told why.
    let error = refusal(&weir, "big", "caller");
    assert!(
        error.contains("HTTP response body size exceeds limit: 33554432 bytes"),
        "{error}"
    );
    let read: u64 = error
        .strip_prefix("reading the body failed after ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|bytes| bytes.parse().ok())
        .unwrap_or_else(|| panic!("not a cut body: {error}"));
    assert!(read <= 32 << 20, "{error}");
    weir.wait_for_log("the cut to name the bound", |log| {
        log.contains("outbound HTTP body cut") && log.contains("bounds::HTTP_BODY_BYTES")
    });
    weir.stop();
}

#[test]
fn a_delivery_sends_at_most_sixteen_requests() {
    let downstream = Downstream::start();
    let (authority, workspace) = caller_granted(&downstream);
    let weir = workspace.start();
    let calls = |id: &str, times: u32| {
        json!({"id": id, "source": "tests", "type": "fetch.caller",
               "data": {"authority": authority, "path": format!("/hook/{id}"), "times": times}})
    };
    let answer = weir.post_json(
        "/v1/events",
        &json!([calls("sixteen", 16), calls("seventeen", 17)]).to_string(),
    );
    assert_eq!(answer.status, 202, "{}", answer.text);

    let sixteen = settled_event(&weir, "sixteen");
    assert_eq!(delivery(&sixteen, "caller")["state"], "done", "{sixteen}");
    let error = refusal(&weir, "seventeen", "caller");
    assert!(error.contains("ConnectionLimitReached"), "{error}");
    weir.wait_for_log("the refusal to name the limit", |log| {
        log.contains("the most one delivery may send")
    });
    let heads = downstream.heads();
    let count = |id: &str| {
        heads
            .iter()
            .filter(|head| head.starts_with(&format!("GET /hook/{id} ")))
            .count()
    };
    assert_eq!(
        (count("sixteen"), count("seventeen")),
        (16, 16),
        "{heads:?}"
    );
    weir.stop();
}

/// Peak resident memory of process `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib << 10
}

/// With no cap, this hoard held 100,000 × 30 KB ≈ 3 GB of header maps.
const HOARD_COUNT: u32 = 100_000;
/// Under the 32 KiB a header map may hold.
const HOARD_BYTES: usize = 30_000;
/// weir's peak memory may grow this much for the hoard: the table holds at
/// most 2048 maps of 32 KiB (64 MiB), plus the allocator's slack.
const HOARD_GROWTH_AT_MOST: u64 = 256 << 20;

#[test]
fn host_resources_are_bounded_in_number_and_size() {
    let workspace = Workspace::with_named_plugins(
        &[("test-fetch", "hoarder")],
        &granting("hoarder", &["api.example.invalid".to_owned()]),
    );
    let weir = workspace.start();
    let hoard = |id: &str, count: u32, bytes: usize| {
        json!({"id": id, "source": "tests", "type": "fetch.hoarder",
               "data": {"hoard": {"count": count, "bytes": bytes}}})
    };
    // Obeyed: a few maps of a real header's size.
    let answer = weir.post_json("/v1/events", &json!([hoard("few", 100, 1024)]).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let few = settled_event(&weir, "few");
    assert_eq!(delivery(&few, "hoarder")["state"], "done", "{few}");
    let before = peak_rss(weir.pid());

    let answer = weir.post_json(
        "/v1/events",
        &json!([
            hoard("many", HOARD_COUNT, HOARD_BYTES),
            hoard("large", 1, 40_000)
        ])
        .to_string(),
    );
    assert_eq!(answer.status, 202, "{}", answer.text);
    for (id, limit) in [
        ("many", "2048 host resources"),
        ("large", "an HTTP header map is over 32768 bytes"),
    ] {
        let event = settled_event(&weir, id);
        let failed = delivery(&event, "hoarder");
        assert_eq!(failed["state"], "dead", "{id}: {event}");
        assert_eq!(
            failed["history"][0]["outcome"], "host_limit",
            "{id}: {failed}"
        );
        let error = failed["history"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains(limit), "{id}: {error}");
    }
    let growth = peak_rss(weir.pid()).saturating_sub(before);
    assert!(
        growth < HOARD_GROWTH_AT_MOST,
        "peak RSS grew {} MiB",
        growth >> 20
    );
    eprintln!("peak RSS growth for the hoard: {} MiB", growth >> 20);
    weir.stop();
}

#[test]
fn a_plugin_importing_wasi_http_without_a_grant_loads_with_nothing_granted() {
    // Toolchains such as componentize-js import wasi:http whatever the
    // handler does: such a plugin loads, and egress refuses its requests.
    let workspace = Workspace::with_named_plugins(
        &[("test-fetch", "ungranted"), ("test-ack", "test-ack")],
        crate::support::ACK_EVERYTHING,
    );
    let weir = workspace.start();
    let listed = weir.get("/v1/plugins");
    let plugin = listed.body["plugins"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == "ungranted").cloned())
        .unwrap_or_else(|| panic!("{}", listed.text));
    assert_eq!(plugin["state"], "serving", "{plugin}");
    assert_eq!(plugin["http"], json!([]), "granted nothing: {plugin}");
    weir.stop();
}
