//! Extractors that answer bad input with the JSON error envelope instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// JSON body; errors become 400 / 413 / 415 with the envelope. The body is held to
/// [`Limits::max_json_depth`](crate::Limits::max_json_depth) before it is parsed.
pub struct Json<T>(pub T);

impl<T> FromRequest<AppState> for Json<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (value, _) = json_body(req, state).await?;
        Ok(Json(value))
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

impl<T> FromRequest<AppState> for SizedJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (value, body_bytes) = json_body(req, state).await?;
        Ok(SizedJson { value, body_bytes })
    }
}

/// Reads a JSON body: its content type (415), its size (413, the route's `DefaultBodyLimit`,
/// counted after decompression), its nesting depth (400), then its shape (400).
async fn json_body<T: DeserializeOwned>(req: Request, state: &AppState) -> ApiResult<(T, usize)> {
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
    let SizedJson { value, body_bytes } = SizedJson::parse(&state.config().limits, &bytes)?;
    Ok((value, body_bytes))
}

impl<T: DeserializeOwned> SizedJson<T> {
    /// Reads a body's JSON text as the extractor does once it has the bytes: its nesting depth
    /// (400), then its shape (400).
    pub fn parse(limits: &crate::state::Limits, bytes: &[u8]) -> ApiResult<Self> {
        let most = limits.max_json_depth;
        if json_depth_exceeds(bytes, most) {
            return Err(ApiError::bad_request(format!(
                "the JSON body is nested deeper than {most} levels"
            )));
        }
        let value = match axum::Json::<T>::from_bytes(bytes) {
            Ok(axum::Json(value)) => value,
            Err(rejection) => {
                whole_floats_as_integers(bytes).ok_or_else(|| json_rejection(rejection))?
            }
        };
        Ok(SizedJson {
            value,
            body_bytes: bytes.len(),
        })
    }
}

/// JSON Schema counts `2.0` as an integer, and some producers (Python's `json` with a float in
/// hand) write integers so; serde does not take them for integer fields. A body that failed to
/// parse is tried once more with every whole float within the 64-bit integers made an integer:
/// `None` when it has none or still does not parse. Bodies that parse at once never pay for it.
fn whole_floats_as_integers<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    fn fix(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) else {
                    return false;
                };
                // Exactly representable range of both float and integer.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                if !(-EXACT..=EXACT).contains(&f) {
                    return false;
                }
                *value = serde_json::Value::from(f as i64);
                true
            }
            serde_json::Value::Array(items) => items.iter_mut().map(fix).filter(|&f| f).count() > 0,
            serde_json::Value::Object(map) => map.values_mut().map(fix).filter(|&f| f).count() > 0,
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if !fix(&mut value) {
        return None;
    }
    serde_json::from_value(value).ok()
}

/// Whether arrays and objects in `json` nest deeper than `most` (the body itself is level 1).
/// One pass over the bytes, brackets inside strings skipped; whether the text is valid JSON is
/// left to the parser.
pub fn json_depth_exceeds(json: &[u8], most: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > most {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
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

#[cfg(test)]
mod tests {
    use super::json_depth_exceeds;

    #[test]
    fn whole_floats_count_as_integers() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Seq {
            seq: u64,
            when: Option<i32>,
        }
        let parse = |text: &str| super::whole_floats_as_integers::<Seq>(text.as_bytes());
        assert_eq!(
            parse(r#"{"seq": 2.0, "when": -1.0}"#),
            Some(Seq {
                seq: 2,
                when: Some(-1)
            })
        );
        assert_eq!(
            parse(r#"{"seq": 2e3}"#),
            Some(Seq {
                seq: 2000,
                when: None
            })
        );
        assert_eq!(parse(r#"{"seq": 2.5}"#), None);
        assert_eq!(parse(r#"{"seq": 1e300}"#), None);
        // Nothing to fix: the first error stands.
        assert_eq!(parse(r#"{"seq": "2"}"#), None);
    }

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert!(!json_depth_exceeds(b"1", 0));
        assert!(json_depth_exceeds(b"{}", 0));
        assert!(!json_depth_exceeds(b"{\"a\": [1, {\"b\": []}]}", 4));
        assert!(json_depth_exceeds(b"{\"a\": [1, {\"b\": []}]}", 3));
        // Siblings do not add up.
        assert!(!json_depth_exceeds(b"[[], [], [[]]]", 3));
        // Brackets in strings, escaped quotes included, do not count.
        assert!(!json_depth_exceeds(br#"{"a": "[[[{{{\"[[["}"#, 1));
        assert!(json_depth_exceeds(br#"{"a": "\\", "b": [[]]}"#, 2));
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(json_depth_exceeds(deep.as_bytes(), 64));
        assert!(!json_depth_exceeds(deep.as_bytes(), 65));
    }
}
