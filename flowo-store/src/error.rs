//! Mapping database errors to [`StoreError`].

use flowo_core::store::StoreError;

/// Wraps a sqlx error; unique violations become [`StoreError::Conflict`].
pub(crate) fn db(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(e) = &err
        && e.is_unique_violation()
    {
        return StoreError::Conflict(e.message().to_owned());
    }
    StoreError::Backend(Box::new(err))
}
