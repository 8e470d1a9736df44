//! The store implementation shared by every SQL backend, written once in
//! SQLite's dialect; each backend's `sql()` adapts a statement to its own
//! (placeholders, `INSERT OR IGNORE`, `MIN`).

/// Implements [`proofkey_core::Store`] for `$Store` (which has a `pool`
/// field and an associated `fn sql(&'static str) -> Cow<'static, str>`),
/// whose rows are `$Row`.
macro_rules! sql_store {
    ($Store:ident, $Row:ty) => {
fn json_list(v: &[String]) -> String {
            serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
        }

        fn parse_list(s: &str) -> Vec<String> {
            serde_json::from_str(s).unwrap_or_default()
        }

        fn client_from_row(r: &$Row) -> Result<Client, sqlx::Error> {
            let kind: String = r.try_get("kind")?;
            Ok(Client {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                kind: if kind == "confidential" {
                    ClientKind::Confidential
                } else {
                    ClientKind::Public
                },
                secret_hash: r.try_get("secret_hash")?,
                redirect_uris: parse_list(&r.try_get::<String, _>("redirect_uris")?),
                scopes: parse_list(&r.try_get::<String, _>("scopes")?),
                grant_types: parse_list(&r.try_get::<String, _>("grant_types")?),
                skip_consent: r.try_get("skip_consent")?,
                id_token_alg: r.try_get("id_token_alg")?,
                created_at: r.try_get("created_at")?,
                jwks: r.try_get("jwks")?,
                jwks_uri: r.try_get("jwks_uri")?,
                post_logout_redirect_uris: parse_list(
                    &r.try_get::<String, _>("post_logout_redirect_uris")?,
                ),
                rotate_refresh_tokens: r.try_get("rotate_refresh_tokens")?,
                always_issue_refresh_token: r.try_get("always_issue_refresh_token")?,
            })
        }

        fn refresh_from_row(r: &$Row) -> Result<RefreshTokenRecord, sqlx::Error> {
            Ok(RefreshTokenRecord {
                token_hash: r.try_get("token_hash")?,
                grant_id: r.try_get("grant_id")?,
                client_id: r.try_get("client_id")?,
                user_id: r.try_get("user_id")?,
                scope: r.try_get("scope")?,
                auth_time: r.try_get("auth_time")?,
                issued_at: r.try_get("issued_at")?,
                family_expires_at: r.try_get("family_expires_at")?,
                idle_expires_at: r.try_get("idle_expires_at")?,
            })
        }

        fn device_from_row(r: &$Row) -> Result<DeviceCode, sqlx::Error> {
            let status: String = r.try_get("status")?;
            Ok(DeviceCode {
                device_code_hash: r.try_get("device_code_hash")?,
                user_code_hash: r.try_get("user_code_hash")?,
                client_id: r.try_get("client_id")?,
                scope: r.try_get("scope")?,
                issued_at: r.try_get("issued_at")?,
                expires_at: r.try_get("expires_at")?,
                interval: r.try_get("poll_interval")?,
                status: match status.as_str() {
                    "approved" => DeviceStatus::Approved,
                    "denied" => DeviceStatus::Denied,
                    _ => DeviceStatus::Pending,
                },
                user_id: r.try_get("user_id")?,
                auth_time: r.try_get("auth_time")?,
            })
        }

        fn access_from_row(r: &$Row) -> Result<AccessTokenRecord, sqlx::Error> {
            Ok(AccessTokenRecord {
                jti: r.try_get("jti")?,
                grant_id: r.try_get("grant_id")?,
                client_id: r.try_get("client_id")?,
                user_id: r.try_get("user_id")?,
                scope: r.try_get("scope")?,
                expires_at: r.try_get("expires_at")?,
            })
        }

        fn user_from_row(r: &$Row) -> Result<User, sqlx::Error> {
            Ok(User {
                id: r.try_get("id")?,
                username: r.try_get("username")?,
                email: r.try_get("email")?,
                name: r.try_get("name")?,
                password_hash: r.try_get("password_hash")?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn code_from_row(r: &$Row) -> Result<AuthorizationCode, sqlx::Error> {
            Ok(AuthorizationCode {
                code_hash: r.try_get("code_hash")?,
                client_id: r.try_get("client_id")?,
                redirect_uri: r.try_get("redirect_uri")?,
                code_challenge: r.try_get("code_challenge")?,
                code_challenge_method: r.try_get("code_challenge_method")?,
                scope: r.try_get("scope")?,
                nonce: r.try_get("nonce")?,
                user_id: r.try_get("user_id")?,
                auth_time: r.try_get("auth_time")?,
                issued_at: r.try_get("issued_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        }

        #[async_trait]
        impl Store for $Store {
            async fn create_client(&self, c: &Client) -> StoreResult<()> {
                sqlx::query(&Self::sql(
                    "INSERT INTO clients (id, name, kind, secret_hash, redirect_uris, scopes, grant_types, skip_consent, id_token_alg, created_at,
                                          jwks, jwks_uri, post_logout_redirect_uris, rotate_refresh_tokens, always_issue_refresh_token)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&c.id)
                .bind(&c.name)
                .bind(c.kind.as_str())
                .bind(&c.secret_hash)
                .bind(json_list(&c.redirect_uris))
                .bind(json_list(&c.scopes))
                .bind(json_list(&c.grant_types))
                .bind(c.skip_consent)
                .bind(&c.id_token_alg)
                .bind(c.created_at)
                .bind(&c.jwks)
                .bind(&c.jwks_uri)
                .bind(json_list(&c.post_logout_redirect_uris))
                .bind(c.rotate_refresh_tokens)
                .bind(c.always_issue_refresh_token)
                .execute(&self.pool)
                .await
                .map_err(|e| match map_err(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("client {:?}", c.id)),
                    other => other,
                })?;
                Ok(())
            }

            async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
                let row = sqlx::query(&Self::sql("SELECT * FROM clients WHERE id = ?"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                row.as_ref()
                    .map(client_from_row)
                    .transpose()
                    .map_err(map_err)
            }

            async fn list_clients(&self) -> StoreResult<Vec<Client>> {
                let rows = sqlx::query(&Self::sql("SELECT * FROM clients ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                rows.iter()
                    .map(client_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(map_err)
            }

            async fn delete_client(&self, id: &str) -> StoreResult<bool> {
                let r = sqlx::query(&Self::sql("DELETE FROM clients WHERE id = ?"))
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() > 0)
            }

            async fn set_client_secret(&self, id: &str, secret_hash: &str) -> StoreResult<bool> {
                let r = sqlx::query(&Self::sql(
                    "UPDATE clients SET secret_hash = ? WHERE id = ? AND kind = 'confidential'",
                ))
                .bind(secret_hash)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() > 0)
            }

            async fn create_user(&self, u: &User) -> StoreResult<()> {
                sqlx::query(&Self::sql(
                    "INSERT INTO users (id, username, email, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                ))
                .bind(&u.id)
                .bind(&u.username)
                .bind(&u.email)
                .bind(&u.name)
                .bind(&u.password_hash)
                .bind(u.created_at)
                .execute(&self.pool)
                .await
                .map_err(|e| match map_err(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("user {:?}", u.username)),
                    other => other,
                })?;
                Ok(())
            }

            async fn get_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
                let row = sqlx::query(&Self::sql("SELECT * FROM users WHERE username = ?"))
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                row.as_ref().map(user_from_row).transpose().map_err(map_err)
            }

            async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
                let row = sqlx::query(&Self::sql("SELECT * FROM users WHERE id = ?"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                row.as_ref().map(user_from_row).transpose().map_err(map_err)
            }

            async fn list_users(&self) -> StoreResult<Vec<User>> {
                let rows = sqlx::query(&Self::sql("SELECT * FROM users ORDER BY username"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                rows.iter()
                    .map(user_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(map_err)
            }

            async fn delete_user(&self, username: &str) -> StoreResult<bool> {
                let r = sqlx::query(&Self::sql("DELETE FROM users WHERE username = ?"))
                    .bind(username)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() > 0)
            }

            async fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
                let r = sqlx::query(&Self::sql("UPDATE users SET password_hash = ? WHERE username = ?"))
                    .bind(password_hash)
                    .bind(username)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() > 0)
            }

            async fn create_session(&self, id_hash: &str, s: &Session) -> StoreResult<()> {
                sqlx::query(&Self::sql(
                    "INSERT INTO sessions (id_hash, user_id, auth_time, expires_at) VALUES (?, ?, ?, ?)",
                ))
                .bind(id_hash)
                .bind(&s.user_id)
                .bind(s.auth_time)
                .bind(s.expires_at)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn get_session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
                let row = sqlx::query(&Self::sql("SELECT user_id, auth_time, expires_at FROM sessions WHERE id_hash = ? AND expires_at > ?"))
                    .bind(id_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                row.map(|r| {
                    Ok(Session {
                        user_id: r.try_get("user_id")?,
                        auth_time: r.try_get("auth_time")?,
                        expires_at: r.try_get("expires_at")?,
                    })
                })
                .transpose()
                .map_err(map_err)
            }

            async fn grant_consent(
                &self,
                user_id: &str,
                client_id: &str,
                scopes: &[String],
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                // An empty scope set is remembered too, as the empty string.
                let empty = [String::new()];
                let scopes = if scopes.is_empty() {
                    &empty[..]
                } else {
                    scopes
                };
                for s in scopes {
                    sqlx::query(&Self::sql(
                        "INSERT OR IGNORE INTO consents (user_id, client_id, scope) VALUES (?, ?, ?)",
                    ))
                    .bind(user_id)
                    .bind(client_id)
                    .bind(s)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                }
                tx.commit().await.map_err(map_err)
            }

            async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Vec<String>> {
                let rows = sqlx::query(&Self::sql("SELECT scope FROM consents WHERE user_id = ? AND client_id = ?"))
                    .bind(user_id)
                    .bind(client_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                rows.iter()
                    .map(|r| r.try_get("scope"))
                    .collect::<Result<_, _>>()
                    .map_err(map_err)
            }

            async fn insert_code(&self, c: &AuthorizationCode) -> StoreResult<()> {
                sqlx::query(&Self::sql(
                    "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, code_challenge_method, scope, nonce, user_id, auth_time, issued_at, expires_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&c.code_hash)
                .bind(&c.client_id)
                .bind(&c.redirect_uri)
                .bind(&c.code_challenge)
                .bind(&c.code_challenge_method)
                .bind(&c.scope)
                .bind(&c.nonce)
                .bind(&c.user_id)
                .bind(c.auth_time)
                .bind(c.issued_at)
                .bind(c.expires_at)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn consume_code(&self, code_hash: &str, now: i64) -> StoreResult<CodeConsumption> {
                let row = sqlx::query(&Self::sql(
                    "UPDATE authorization_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL RETURNING *",
                ))
                .bind(now)
                .bind(code_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                if let Some(r) = row {
                    return code_from_row(&r)
                        .map(|c| CodeConsumption::Consumed(Box::new(c)))
                        .map_err(map_err);
                }
                let used = sqlx::query(&Self::sql("SELECT 1 FROM authorization_codes WHERE code_hash = ?"))
                    .bind(code_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(if used.is_some() {
                    CodeConsumption::AlreadyUsed
                } else {
                    CodeConsumption::NotFound
                })
            }

            async fn insert_access_token(&self, t: &AccessTokenRecord) -> StoreResult<()> {
                sqlx::query(&Self::sql(
                    "INSERT INTO access_tokens (jti, grant_id, client_id, user_id, scope, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                ))
                .bind(&t.jti)
                .bind(&t.grant_id)
                .bind(&t.client_id)
                .bind(&t.user_id)
                .bind(&t.scope)
                .bind(t.expires_at)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn access_token_active(&self, jti: &str, now: i64) -> StoreResult<bool> {
                let row = sqlx::query(&Self::sql(
                    "SELECT 1 FROM access_tokens WHERE jti = ? AND revoked_at IS NULL AND expires_at > ?",
                ))
                .bind(jti)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(row.is_some())
            }

            async fn get_access_token(
                &self,
                jti: &str,
                now: i64,
            ) -> StoreResult<Option<AccessTokenRecord>> {
                let row = sqlx::query(&Self::sql(
                    "SELECT * FROM access_tokens WHERE jti = ? AND revoked_at IS NULL AND expires_at > ?",
                ))
                .bind(jti)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                row.as_ref()
                    .map(access_from_row)
                    .transpose()
                    .map_err(map_err)
            }

            async fn revoke_access_token(&self, jti: &str, client_id: &str, now: i64) -> StoreResult<bool> {
                let r = sqlx::query(&Self::sql(
                    "UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND client_id = ? AND revoked_at IS NULL",
                ))
                .bind(now)
                .bind(jti)
                .bind(client_id)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() > 0)
            }

            async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<u64> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                let mut n = 0;
                for sql in [
                    "UPDATE access_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL",
                    "UPDATE refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL",
                ] {
                    n += sqlx::query(&Self::sql(sql))
                        .bind(now)
                        .bind(grant_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                }
                tx.commit().await.map_err(map_err)?;
                Ok(n)
            }

            async fn insert_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
                sqlx::query(&Self::sql(
                    "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, auth_time, issued_at, family_expires_at, idle_expires_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&t.token_hash)
                .bind(&t.grant_id)
                .bind(&t.client_id)
                .bind(&t.user_id)
                .bind(&t.scope)
                .bind(t.auth_time)
                .bind(t.issued_at)
                .bind(t.family_expires_at)
                .bind(t.idle_expires_at)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn use_refresh_token(
                &self,
                token_hash: &str,
                now: i64,
                rotate: bool,
                new_idle_expiry: i64,
            ) -> StoreResult<RefreshUse> {
                let sql = if rotate {
                    "UPDATE refresh_tokens SET rotated_at = ?1
                     WHERE token_hash = ?2 AND rotated_at IS NULL AND revoked_at IS NULL
                       AND family_expires_at > ?1 AND idle_expires_at > ?1
                     RETURNING *"
                } else {
                    "UPDATE refresh_tokens SET idle_expires_at = MIN(?3, family_expires_at)
                     WHERE token_hash = ?2 AND rotated_at IS NULL AND revoked_at IS NULL
                       AND family_expires_at > ?1 AND idle_expires_at > ?1
                     RETURNING *"
                };
                let row = sqlx::query(&Self::sql(sql))
                    .bind(now)
                    .bind(token_hash)
                    .bind(new_idle_expiry)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                if let Some(r) = row {
                    return refresh_from_row(&r)
                        .map(|t| RefreshUse::Taken(Box::new(t)))
                        .map_err(map_err);
                }
                let row = sqlx::query(&Self::sql(
                    "SELECT * FROM refresh_tokens WHERE token_hash = ? AND rotated_at IS NOT NULL AND revoked_at IS NULL",
                ))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                match row {
                    Some(r) => refresh_from_row(&r)
                        .map(|t| RefreshUse::Reused(Box::new(t)))
                        .map_err(map_err),
                    None => Ok(RefreshUse::Invalid),
                }
            }

            async fn get_refresh_token(
                &self,
                token_hash: &str,
                now: i64,
            ) -> StoreResult<Option<RefreshTokenRecord>> {
                let row = sqlx::query(&Self::sql(
                    "SELECT * FROM refresh_tokens WHERE token_hash = ?1 AND rotated_at IS NULL AND revoked_at IS NULL
                       AND family_expires_at > ?2 AND idle_expires_at > ?2",
                ))
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                row.as_ref()
                    .map(refresh_from_row)
                    .transpose()
                    .map_err(map_err)
            }

            async fn record_jti(&self, client_id: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
                let r = sqlx::query(&Self::sql(
                    "INSERT OR IGNORE INTO used_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)",
                ))
                .bind(client_id)
                .bind(jti)
                .bind(expires_at)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn list_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionInfo>> {
                let rows = sqlx::query(&Self::sql(
                    "SELECT substr(id_hash, 1, 12) AS id, auth_time, expires_at FROM sessions
                     WHERE user_id = ? AND expires_at > ? ORDER BY auth_time",
                ))
                .bind(user_id)
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok(SessionInfo {
                            id: r.try_get("id")?,
                            auth_time: r.try_get("auth_time")?,
                            expires_at: r.try_get("expires_at")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(map_err)
            }

            async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
                sqlx::query(&Self::sql("DELETE FROM sessions WHERE id_hash = ?"))
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn revoke_user(&self, user_id: &str, now: i64) -> StoreResult<(u64, u64)> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                let sessions = sqlx::query(&Self::sql("DELETE FROM sessions WHERE user_id = ?"))
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                let mut tokens = 0;
                for sql in [
                    "UPDATE access_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                    "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                ] {
                    tokens += sqlx::query(&Self::sql(sql))
                        .bind(now)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                }
                tx.commit().await.map_err(map_err)?;
                Ok((sessions, tokens))
            }

            async fn insert_device_code(&self, d: &DeviceCode) -> StoreResult<()> {
                sqlx::query(&Self::sql(
                    "INSERT INTO device_codes (device_code_hash, user_code_hash, client_id, scope, issued_at, expires_at, poll_interval)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&d.device_code_hash)
                .bind(&d.user_code_hash)
                .bind(&d.client_id)
                .bind(&d.scope)
                .bind(d.issued_at)
                .bind(d.expires_at)
                .bind(d.interval)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn pending_device_code(
                &self,
                user_code_hash: &str,
                now: i64,
            ) -> StoreResult<Option<DeviceCode>> {
                let row = sqlx::query(&Self::sql(
                    "SELECT * FROM device_codes WHERE user_code_hash = ? AND status = 'pending' AND expires_at > ?",
                ))
                .bind(user_code_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                row.as_ref()
                    .map(device_from_row)
                    .transpose()
                    .map_err(map_err)
            }

            async fn decide_device_code(
                &self,
                user_code_hash: &str,
                now: i64,
                user_id: &str,
                auth_time: i64,
                approve: bool,
            ) -> StoreResult<bool> {
                let r = sqlx::query(&Self::sql(
                    "UPDATE device_codes SET status = ?, user_id = ?, auth_time = ?
                     WHERE user_code_hash = ? AND status = 'pending' AND expires_at > ?",
                ))
                .bind(if approve { "approved" } else { "denied" })
                .bind(user_id)
                .bind(auth_time)
                .bind(user_code_hash)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn poll_device_code(&self, device_code_hash: &str, now: i64) -> StoreResult<DevicePoll> {
                // Every expression in SET reads the row as it was before the update,
                // so `slow` records whether this poll beat the interval then in force.
                let row = sqlx::query(&Self::sql(
                    "UPDATE device_codes
                     SET slow = (last_polled_at IS NOT NULL AND ?1 - last_polled_at < poll_interval),
                         poll_interval = CASE WHEN last_polled_at IS NOT NULL AND ?1 - last_polled_at < poll_interval
                                         THEN poll_interval + 5 ELSE poll_interval END,
                         last_polled_at = ?1
                     WHERE device_code_hash = ?2 AND consumed_at IS NULL
                     RETURNING *",
                ))
                .bind(now)
                .bind(device_code_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                let Some(row) = row else {
                    return Ok(DevicePoll::NotFound);
                };
                let slow_down: bool = row.try_get("slow").map_err(map_err)?;
                let record = device_from_row(&row).map_err(map_err)?;
                Ok(DevicePoll::Polled {
                    record: Box::new(record),
                    slow_down,
                })
            }

            async fn consume_device_code(
                &self,
                device_code_hash: &str,
                now: i64,
            ) -> StoreResult<Option<DeviceCode>> {
                let row = sqlx::query(&Self::sql(
                    "UPDATE device_codes SET consumed_at = ?1
                     WHERE device_code_hash = ?2 AND status = 'approved' AND consumed_at IS NULL AND expires_at > ?1
                     RETURNING *",
                ))
                .bind(now)
                .bind(device_code_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                row.as_ref()
                    .map(device_from_row)
                    .transpose()
                    .map_err(map_err)
            }

            async fn sweep(&self, now: i64) -> StoreResult<SweepCounts> {
                let run = |sql: &'static str, at: i64| {
                    let pool = self.pool.clone();
                    async move {
                        sqlx::query(&Self::sql(sql))
                            .bind(at)
                            .execute(&pool)
                            .await
                            .map(|r| r.rows_affected())
                            .map_err(map_err)
                    }
                };
                Ok(SweepCounts {
                    // Used codes are kept an hour past expiry so that a late replay
                    // still revokes what was issued from them.
                    codes: run(
                        "DELETE FROM authorization_codes WHERE expires_at < ?",
                        now - 3600,
                    )
                    .await?,
                    access_tokens: run("DELETE FROM access_tokens WHERE expires_at < ?", now).await?,
                    // Rotated tokens stay while their family lives: their reuse must
                    // still be detected.
                    refresh_tokens: run(
                        "DELETE FROM refresh_tokens WHERE family_expires_at < ?1
                           OR (rotated_at IS NULL AND idle_expires_at < ?1)
                           OR (revoked_at IS NOT NULL AND revoked_at < ?1 - 86400)",
                        now,
                    )
                    .await?,
                    sessions: run("DELETE FROM sessions WHERE expires_at < ?", now).await?,
                    jtis: run("DELETE FROM used_jtis WHERE expires_at < ?", now).await?,
                    device_codes: run("DELETE FROM device_codes WHERE expires_at < ?", now).await?,
                })
            }

            async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
                let rows = sqlx::query(&Self::sql("SELECT kid, alg, private_pkcs8, created_at, activates_at FROM signing_keys ORDER BY created_at, kid"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok(StoredKey {
                            kid: r.try_get("kid")?,
                            alg: r.try_get("alg")?,
                            private_pkcs8: r.try_get("private_pkcs8")?,
                            created_at: r.try_get("created_at")?,
                            activates_at: r.try_get("activates_at")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(map_err)
            }

            async fn checkpoint(&self) -> StoreResult<()> {
                self.checkpoint_log().await
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
                Ok(())
            }

            async fn insert_key(&self, k: &StoredKey) -> StoreResult<()> {
                sqlx::query(&Self::sql(
                    "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, activates_at) VALUES (?, ?, ?, ?, ?)",
                ))
                .bind(&k.kid)
                .bind(&k.alg)
                .bind(&k.private_pkcs8)
                .bind(k.created_at)
                .bind(k.activates_at)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn setting_or_init(&self, name: &str, init: &str) -> StoreResult<String> {
                let row = sqlx::query(&Self::sql(
                    "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = settings.value RETURNING value",
                ))
                .bind(name)
                .bind(init)
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
                row.try_get("value").map_err(map_err)
            }
        }
    };
}

pub(crate) use sql_store;
