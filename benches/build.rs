//! Builds the plugins the runtime benchmark loads.

include!("../plugins/build_support.rs");

fn main() {
    let components = build_plugins(&["test-ack", "test-retry-twice", "booking-normalizer"]);
    println!(
        "cargo:rustc-env=WEIR_BENCH_PLUGINS={}",
        components.display()
    );
}
