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
        "test-fetch",
        "test-leak",
        "test-recorder",
        "test-slow",
    ]);
    build_table_bomb(&components);
    println!("cargo:rustc-env=WEIR_TEST_PLUGINS={}", components.display());
}

/// Assembles the hand-written `plugins/table-bomb` component beside the others.
fn build_table_bomb(components: &std::path::Path) {
    let source = "../plugins/table-bomb/table-bomb.wat";
    println!("cargo:rerun-if-changed={source}");
    let bytes = wat::parse_file(source).unwrap_or_else(|error| panic!("{source}: {error}"));
    std::fs::write(components.join("table-bomb.wasm"), bytes).expect("write table-bomb.wasm");
}
