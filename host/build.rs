//! Builds the example plugins so the binary can carry them (see `src/examples.rs`).

include!("../plugins/build_support.rs");

fn main() {
    let components = build_plugins(&["booking-normalizer", "price-calculator"]);
    println!(
        "cargo:rustc-env=WEIR_EXAMPLE_PLUGINS={}",
        components.display()
    );
}
