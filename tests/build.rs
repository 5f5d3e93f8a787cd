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
    for fixture in ["table-bomb", "memory-multiplier", "memory-hoarder"] {
        assemble(fixture, &components);
    }
    println!("cargo:rustc-env=WEIR_TEST_PLUGINS={}", components.display());
}

/// Assembles the hand-written component `plugins/NAME/NAME.wat` beside the others.
fn assemble(name: &str, components: &std::path::Path) {
    let source = format!("../plugins/{name}/{name}.wat");
    println!("cargo:rerun-if-changed={source}");
    let bytes = wat::parse_file(&source).unwrap_or_else(|error| panic!("{source}: {error}"));
    std::fs::write(components.join(format!("{name}.wasm")), bytes)
        .unwrap_or_else(|error| panic!("write {name}.wasm: {error}"));
}
