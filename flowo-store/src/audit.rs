//! The audit log half of the store (`audit_log`, migration 0005), written once for both
//! backends like `accounts`: appended to by administrative actions, read newest first with a
//! keyset cursor (the entry id).

/// Implements `AuditLog` for `$store` (see `sql_store::impl_sql_store`).
macro_rules! impl_audit_log {
    ($store:ident, $db:ty) => {
        mod audit_impl {
            use async_trait::async_trait;
            use flowo_core::account::UserId;
            use flowo_core::store::{
                AuditEntry, AuditLog, AuditQuery, NewAuditEntry, Page, StoreError, check_limit,
            };
            use uuid::Uuid;

            use super::$store;
            use $crate::error::db;
            use $crate::rows::{from_micros, micros, parse_json, stored_word, to_json};

            /// A row of `audit_log`.
            #[derive(sqlx::FromRow)]
            struct AuditRow {
                id: i64,
                at: i64,
                actor_id: Option<Uuid>,
                actor: String,
                action: String,
                target: String,
                details: String,
            }

            impl AuditRow {
                fn into_entry(self) -> Result<AuditEntry, StoreError> {
                    Ok(AuditEntry {
                        id: self.id,
                        at: from_micros(self.at)?,
                        actor_id: self.actor_id.map(UserId),
                        actor: self.actor,
                        action: stored_word(&self.action)?,
                        target: self.target,
                        details: parse_json("audit details", &self.details)?,
                    })
                }
            }

            #[async_trait]
            impl AuditLog for $store {
                async fn record_audit(
                    &self,
                    entry: NewAuditEntry,
                ) -> Result<AuditEntry, StoreError> {
                    let row: AuditRow = sqlx::query_as(
                        "INSERT INTO audit_log (at, actor_id, actor, action, target, details) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         RETURNING id, at, actor_id, actor, action, target, details",
                    )
                    .bind(micros(chrono::Utc::now()))
                    .bind(entry.actor_id.map(|u| u.0))
                    .bind(&entry.actor)
                    .bind(entry.action.as_str())
                    .bind(&entry.target)
                    .bind(to_json(&entry.details))
                    .fetch_one(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    row.into_entry()
                }

                async fn list_audit(
                    &self,
                    query: &AuditQuery,
                ) -> Result<Page<AuditEntry>, StoreError> {
                    let limit = check_limit(query.limit)?;
                    let before = match &query.cursor {
                        Some(cursor) => cursor
                            .parse::<i64>()
                            .ok()
                            .filter(|id| *id > 0)
                            .ok_or(StoreError::InvalidCursor)?,
                        None => i64::MAX,
                    };
                    let rows: Vec<AuditRow> = sqlx::query_as(
                        "SELECT id, at, actor_id, actor, action, target, details FROM audit_log \
                         WHERE id < $1 ORDER BY id DESC LIMIT $2",
                    )
                    .bind(before)
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    let more = rows.len() > limit as usize;
                    let items = rows
                        .into_iter()
                        .take(limit as usize)
                        .map(AuditRow::into_entry)
                        .collect::<Result<Vec<_>, _>>()?;
                    let next_cursor = if more {
                        items.last().map(|e| e.id.to_string())
                    } else {
                        None
                    };
                    Ok(Page {
                        items,
                        next_cursor,
                        total: None,
                    })
                }
            }
        }
    };
}
pub(crate) use impl_audit_log;
