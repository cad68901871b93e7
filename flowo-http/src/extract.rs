//! Extractors that answer bad input with the JSON error envelope instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON body; errors become 400 / 413 / 415 with the envelope.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// JSON body with the size of its (decompressed) text, for limits that a smaller body cannot
/// break; errors as for [`Json`].
pub struct SizedJson<T> {
    /// The value.
    pub value: T,
    /// Bytes of JSON text it was read from.
    pub body_bytes: usize,
}

impl<S, T> FromRequest<S> for SizedJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime_type::Essence>().ok())
            .is_some_and(|m| m.is_json());
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a JSON body with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE
                    || rejection.body_text().contains("length limit exceeded")
                {
                    ApiError::too_large("request body too large")
                } else {
                    ApiError::bad_request(rejection.body_text())
                }
            })?;
        SizedJson::parse(&bytes)
    }
}

impl<T: DeserializeOwned> SizedJson<T> {
    /// Reads a body's JSON text, with the errors of the extractor.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_bytes(bytes).map_err(json_rejection)?;
        Ok(SizedJson {
            value,
            body_bytes: bytes.len(),
        })
    }
}

/// The essence of a media type (`type/subtype`), as far as "is it JSON" needs it.
mod mime_type {
    pub(super) struct Essence(String);

    impl std::str::FromStr for Essence {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, Self::Err> {
            let essence = s.split(';').next().unwrap_or_default().trim();
            if essence.contains('/') {
                Ok(Self(essence.to_ascii_lowercase()))
            } else {
                Err(())
            }
        }
    }

    impl Essence {
        /// `application/json` or any `+json` type, as axum's own `Json` accepts.
        pub(super) fn is_json(&self) -> bool {
            let (kind, subtype) = self.0.split_once('/').unwrap_or_default();
            kind == "application" && (subtype == "json" || subtype.ends_with("+json"))
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(rejection.body_text()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "unsupported_media_type",
            "expected a JSON body with `Content-Type: application/json`",
        ),
        _ => {
            let text = rejection.body_text();
            if text.contains("length limit exceeded") {
                ApiError::too_large("request body too large")
            } else {
                ApiError::bad_request(text)
            }
        }
    }
}

/// Query string; errors become 400 with the envelope.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(rejection.body_text())
}

/// Path parameters; errors become 400 with the envelope.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}
