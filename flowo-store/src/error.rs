//! Mapping database errors to [`StoreError`].

use flowo_core::store::StoreError;

/// PostgreSQL's SQLSTATE for text it cannot hold (`invalid byte sequence for encoding "UTF8":
/// 0x00`: a NUL character).
const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";

/// Wraps a sqlx error; unique violations become [`StoreError::Conflict`], text PostgreSQL cannot
/// hold (a NUL character the checks before missed) [`StoreError::Invalid`] rather than a
/// database failure.
pub(crate) fn db(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(e) = &err {
        if e.is_unique_violation() {
            return StoreError::Conflict(e.message().to_owned());
        }
        if e.code().as_deref() == Some(CHARACTER_NOT_IN_REPERTOIRE) {
            return StoreError::Invalid(e.message().to_owned());
        }
    }
    StoreError::Backend(Box::new(err))
}

/// Refuses text with a NUL character, which PostgreSQL cannot store (SQLite refuses it too, so
/// that both stores agree).
pub(crate) fn check_no_nul(what: &str, value: &str) -> Result<(), StoreError> {
    if value.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{what} may not contain a NUL character"
        )));
    }
    Ok(())
}
