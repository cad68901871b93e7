//! The account half of the store (users, memberships, tokens, settings), written once for both
//! backends like `sql_store`.

/// Implements `AccountStore` for `$store` (see `sql_store::impl_sql_store`).
macro_rules! impl_account_store {
    ($store:ident, $db:ty) => {
        mod accounts_impl {
            use async_trait::async_trait;
            use flowo_core::account::{
                ApiToken, ApiTokenId, Member, NewApiToken, Role, User, UserCredentials, UserId,
            };
            use flowo_core::store::{AccountStore, StoreError, UserUpdate};
            use flowo_core::{Timestamp, Workspace, WorkspaceId};
            use uuid::Uuid;

            use super::$store;
            use $crate::error::{check_no_nul, db};
            use $crate::rows::{
                TOKEN_COLUMNS, TokenRow, USER_COLUMNS, UserRow, WorkspaceRow, convert, from_micros,
                micros,
            };

            fn check_email(email: &str) -> Result<String, StoreError> {
                let email = email.trim().to_lowercase();
                let ok = email.len() <= 254
                    && email.split_once('@').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control());
                if ok {
                    Ok(email)
                } else {
                    Err(StoreError::Invalid(format!("{email:?} is not an e-mail address")))
                }
            }

            #[async_trait]
            impl AccountStore for $store {
                async fn create_user(
                    &self,
                    email: &str,
                    role: Role,
                    password_hash: Option<&str>,
                ) -> Result<User, StoreError> {
                    let email = check_email(email)?;
                    let id = Uuid::new_v4();
                    let now = micros(chrono::Utc::now());
                    let done = sqlx::query(
                        "INSERT INTO users (id, email, role, disabled, password_hash, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
                    )
                    .bind(id)
                    .bind(&email)
                    .bind(role.as_str())
                    .bind(false)
                    .bind(password_hash)
                    .bind(now)
                    .execute(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict(format!("user {email:?}")));
                    }
                    Ok(User {
                        id: UserId(id),
                        email,
                        role,
                        disabled: false,
                        created_at: from_micros(now)?,
                    })
                }

                async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
                    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                    let row: Option<UserRow> = sqlx::query_as(&sql)
                        .bind(id.0)
                        .fetch_optional(&self.inner.pool)
                        .await
                        .map_err(db)?;
                    row.map(UserRow::into_user).transpose()
                }

                async fn user_credentials(
                    &self,
                    email: &str,
                ) -> Result<Option<UserCredentials>, StoreError> {
                    if email.contains('\0') {
                        // No stored address holds one (PostgreSQL could not even compare it).
                        return Ok(None);
                    }
                    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
                    let row: Option<UserRow> = sqlx::query_as(&sql)
                        .bind(email.trim().to_lowercase())
                        .fetch_optional(&self.inner.pool)
                        .await
                        .map_err(db)?;
                    row.map(UserRow::into_credentials).transpose()
                }

                async fn list_users(&self) -> Result<Vec<User>, StoreError> {
                    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY email");
                    let rows: Vec<UserRow> = sqlx::query_as(&sql)
                        .fetch_all(&self.inner.pool)
                        .await
                        .map_err(db)?;
                    convert(rows, UserRow::into_user)
                }

                async fn count_users(&self) -> Result<u64, StoreError> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                        .fetch_one(&self.inner.pool)
                        .await
                        .map_err(db)?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                async fn update_user(
                    &self,
                    id: UserId,
                    update: UserUpdate,
                ) -> Result<User, StoreError> {
                    let mut tx = self.begin_write().await?;
                    if let Some(role) = update.role {
                        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                            .bind(role.as_str())
                            .bind(id.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(db)?;
                    }
                    if let Some(disabled) = update.disabled {
                        sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                            .bind(disabled)
                            .bind(id.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(db)?;
                    }
                    if let Some(hash) = &update.password_hash {
                        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                            .bind(hash.as_deref())
                            .bind(id.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(db)?;
                    }
                    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                    let row: Option<UserRow> = sqlx::query_as(&sql)
                        .bind(id.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db)?;
                    let user = row
                        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?
                        .into_user()?;
                    tx.commit().await.map_err(db)?;
                    Ok(user)
                }

                async fn add_member(
                    &self,
                    workspace: WorkspaceId,
                    user: UserId,
                ) -> Result<(), StoreError> {
                    if self.user(user).await?.is_none() {
                        return Err(StoreError::NotFound(format!("user {user}")));
                    }
                    if flowo_core::store::WorkspaceStore::workspace(self, workspace).await?.is_none() {
                        return Err(StoreError::NotFound(format!("workspace {workspace}")));
                    }
                    sqlx::query(
                        "INSERT INTO memberships (workspace_id, user_id, added_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (workspace_id, user_id) DO NOTHING",
                    )
                    .bind(workspace.0)
                    .bind(user.0)
                    .bind(micros(chrono::Utc::now()))
                    .execute(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    Ok(())
                }

                async fn remove_member(
                    &self,
                    workspace: WorkspaceId,
                    user: UserId,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                    )
                    .bind(workspace.0)
                    .bind(user.0)
                    .execute(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, StoreError> {
                    let sql = format!(
                        "SELECT m.added_at, {} FROM memberships m JOIN users u ON u.id = m.user_id \
                         WHERE m.workspace_id = $1 ORDER BY u.email",
                        USER_COLUMNS
                            .split(", ")
                            .map(|c| format!("u.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    #[derive(sqlx::FromRow)]
                    struct MemberRow {
                        added_at: i64,
                        #[sqlx(flatten)]
                        user: UserRow,
                    }
                    let rows: Vec<MemberRow> = sqlx::query_as(&sql)
                        .bind(workspace.0)
                        .fetch_all(&self.inner.pool)
                        .await
                        .map_err(db)?;
                    convert(rows, |r| {
                        Ok(Member {
                            added_at: from_micros(r.added_at)?,
                            user: r.user.into_user()?,
                        })
                    })
                }

                async fn user_workspaces(&self, user: UserId) -> Result<Vec<Workspace>, StoreError> {
                    let rows: Vec<WorkspaceRow> = sqlx::query_as(
                        "SELECT w.id, w.name, w.created_at FROM workspaces w \
                         JOIN memberships m ON m.workspace_id = w.id WHERE m.user_id = $1 \
                         ORDER BY w.name",
                    )
                    .bind(user.0)
                    .fetch_all(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    convert(rows, WorkspaceRow::into_workspace)
                }

                async fn create_token(&self, token: NewApiToken) -> Result<ApiToken, StoreError> {
                    check_no_nul("a token's name", &token.name)?;
                    check_no_nul("a token's prefix", &token.prefix)?;
                    check_no_nul("a token's hash", &token.hash)?;
                    let id = Uuid::new_v4();
                    let now = micros(chrono::Utc::now());
                    sqlx::query(
                        "INSERT INTO api_tokens (id, user_id, name, scope, workspace_id, prefix, \
                         hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(id)
                    .bind(token.user_id.0)
                    .bind(&token.name)
                    .bind(token.scope.as_str())
                    .bind(token.workspace_id.map(|w| w.0))
                    .bind(&token.prefix)
                    .bind(&token.hash)
                    .bind(now)
                    .bind(token.expires_at.map(micros))
                    .execute(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    self.token(ApiTokenId(id))
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("token {id}")))
                }

                async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
                    if hash.contains('\0') {
                        return Ok(None);
                    }
                    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1");
                    let row: Option<TokenRow> = sqlx::query_as(&sql)
                        .bind(hash)
                        .fetch_optional(&self.inner.pool)
                        .await
                        .map_err(db)?;
                    row.map(TokenRow::into_token).transpose()
                }

                async fn token(&self, id: ApiTokenId) -> Result<Option<ApiToken>, StoreError> {
                    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1");
                    let row: Option<TokenRow> = sqlx::query_as(&sql)
                        .bind(id.0)
                        .fetch_optional(&self.inner.pool)
                        .await
                        .map_err(db)?;
                    row.map(TokenRow::into_token).transpose()
                }

                async fn list_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>, StoreError> {
                    let rows: Vec<TokenRow> = match user {
                        Some(u) => {
                            let sql = format!(
                                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 \
                                 ORDER BY created_at, id"
                            );
                            sqlx::query_as(&sql).bind(u.0).fetch_all(&self.inner.pool).await
                        }
                        None => {
                            let sql =
                                format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id");
                            sqlx::query_as(&sql).fetch_all(&self.inner.pool).await
                        }
                    }
                    .map_err(db)?;
                    convert(rows, TokenRow::into_token)
                }

                async fn revoke_token(&self, id: ApiTokenId) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(micros(chrono::Utc::now()))
                    .bind(id.0)
                    .execute(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn touch_token(&self, id: ApiTokenId, at: Timestamp) -> Result<(), StoreError> {
                    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                        .bind(micros(at))
                        .bind(id.0)
                        .execute(&self.inner.pool)
                        .await
                        .map_err(db)?;
                    Ok(())
                }

                async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
                    if key.contains('\0') {
                        return Ok(None);
                    }
                    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&self.inner.pool)
                        .await
                        .map_err(db)
                }

                async fn remove_setting(&self, key: &str) -> Result<bool, StoreError> {
                    if key.contains('\0') {
                        return Ok(false);
                    }
                    let done = sqlx::query("DELETE FROM settings WHERE key = $1")
                        .bind(key)
                        .execute(&self.inner.pool)
                        .await
                        .map_err(db)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn init_setting(&self, key: &str, value: &str) -> Result<String, StoreError> {
                    check_no_nul("a setting's key", key)?;
                    check_no_nul("a setting's value", value)?;
                    sqlx::query(
                        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(key)
                    .bind(value)
                    .execute(&self.inner.pool)
                    .await
                    .map_err(db)?;
                    self.setting(key)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("setting {key:?}")))
                }
            }
        }
    };
}
pub(crate) use impl_account_store;
