//! Exporting a plain function as the component's handler.

use std::fmt::Display;

use crate::Outcome;

/// What a handler function may return: an [`Outcome`], or a `Result` whose
/// error becomes [`Outcome::Fail`] with the error's message.
pub trait IntoOutcome {
    /// Converts the handler's return value into the outcome sent to the host.
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for Outcome {
    fn into_outcome(self) -> Outcome {
        self
    }
}

impl<E: Display> IntoOutcome for Result<Outcome, E> {
    fn into_outcome(self) -> Outcome {
        self.unwrap_or_else(|e| Outcome::Fail(e.to_string()))
    }
}

/// Exports `fn(Event) -> impl IntoOutcome` as the plugin's handler.
///
/// Call it once, at the root of the plugin crate:
///
/// ```no_run
/// fn handle(event: weir_plugin_sdk::Event) -> weir_plugin_sdk::Outcome {
///     weir_plugin_sdk::Outcome::Ack
/// }
/// weir_plugin_sdk::handler!(handle);
/// ```
#[macro_export]
macro_rules! handler {
    ($handle:path) => {
        const _: () = {
            struct WeirHandler;

            impl $crate::__private::Guest for WeirHandler {
                fn handle(event: $crate::Event) -> $crate::Outcome {
                    $crate::IntoOutcome::into_outcome($handle(event))
                }
            }

            // Only a component exports the handler: the export names
            // (`weir:plugin/handler@0.1.0#handle`) are not valid in a native
            // linker's version script, and a native build (`cargo build` or
            // `cargo clippy` at the workspace root) has no host to call them.
            #[cfg(target_family = "wasm")]
            $crate::__private::export! { WeirHandler with_types_in $crate::bindings }
            // Elsewhere the handler is still used, so a native build warns
            // about nothing the component build would not.
            #[cfg(not(target_family = "wasm"))]
            const _: fn($crate::Event) -> $crate::Outcome =
                <WeirHandler as $crate::__private::Guest>::handle;
        };
    };
}
