//! Builds every plugin the end-to-end tests load, fixtures included.

include!("../plugins/build_support.rs");

fn main() {
    let components = build_plugins(&[
        "booking-normalizer",
        "price-calculator",
        "hostile",
        "test-always-retry",
        "test-always-fail",
        "test-emit-loop",
        "test-leak",
        "test-recorder",
        "test-slow",
    ]);
    println!("cargo:rustc-env=WEIR_TEST_PLUGINS={}", components.display());
}
