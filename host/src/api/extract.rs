//! The query string and path extractors of the API: axum's own, with their
//! rejections (plain text) turned into the JSON error body every other
//! failure has. An unknown query parameter is refused the same way: every
//! query struct denies unknown fields, so a misspelt `?tenat=` is a 400 that
//! names it, not a filter silently left out.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;

/// Defines `$name<T>`, which extracts like axum's `$name<T>` and answers a bad
/// `$what` with `400 bad_request` and axum's reason.
macro_rules! json_rejection {
    ($name:ident, $what:literal) => {
        #[doc = concat!("axum's `", stringify!($name), "`, refusing a bad ", $what, " with a JSON error.")]
        #[derive(Debug)]
        pub struct $name<T>(pub T);

        impl<S, T> FromRequestParts<S> for $name<T>
        where
            S: Send + Sync,
            T: DeserializeOwned + Send,
        {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                let axum::extract::$name(value) =
                    axum::extract::$name::<T>::from_request_parts(parts, state)
                    .await
                    .map_err(|rejection| {
                        ApiError::BadRequest(format!(
                            concat!("bad ", $what, ": {}"),
                            rejection.body_text()
                        ))
                    })?;
                Ok($name(value))
            }
        }
    };
}

json_rejection!(Query, "query string");
json_rejection!(Path, "path");
