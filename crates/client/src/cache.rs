//! The token cache: one file per profile in the user's config directory,
//! mode 0600, written atomically (temporary file, fsync, rename) while an
//! exclusive lock on the profile's lock file is held. Readers that refresh
//! take the same lock, so concurrent processes refresh once and all get the
//! new tokens.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::token::{self, TokenSet};
use crate::ClientError;

/// Environment variable that overrides the config directory.
pub const CONFIG_DIR_ENV: &str = "PROOFKEY_CONFIG_DIR";
/// A token is refreshed when it expires within this many seconds.
pub const REFRESH_MARGIN: i64 = 60;

/// Where a profile's tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In the profile's 0600 file.
    #[default]
    File,
    /// In the OS keyring (macOS Keychain, Windows Credential Manager, Linux
    /// kernel keyutils); the file keeps only the profile's metadata.
    Keyring,
}

impl StoreKind {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::File => "file",
            StoreKind::Keyring => "keyring",
        }
    }
}

/// How long a keyring call may take before it is abandoned with an error.
pub const KEYRING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const KEYRING_SERVICE: &str = "proofkey";

/// Runs a blocking keyring call with [`KEYRING_TIMEOUT`]. Never falls back
/// to a file: a keyring failure is an error the user sees.
async fn keyring_call<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, keyring::Error> + Send + 'static,
) -> Result<T, ClientError> {
    let task = tokio::task::spawn_blocking(f);
    match tokio::time::timeout(KEYRING_TIMEOUT, task).await {
        Err(_) => Err(ClientError::Keyring(format!(
            "the OS keyring did not answer within {}s while trying to {what}",
            KEYRING_TIMEOUT.as_secs()
        ))),
        Ok(Err(e)) => Err(ClientError::Keyring(e.to_string())),
        Ok(Ok(Err(e))) => Err(ClientError::Keyring(format!("cannot {what}: {e}"))),
        Ok(Ok(Ok(v))) => Ok(v),
    }
}

fn keyring_entry(name: &str) -> Result<keyring::Entry, keyring::Error> {
    keyring::Entry::new(KEYRING_SERVICE, name)
}

/// The on-disk form: tokens absent when they live in the keyring.
#[derive(Serialize, Deserialize)]
struct OnDisk {
    name: String,
    issuer: String,
    client_id: String,
    token_endpoint: String,
    revocation_endpoint: Option<String>,
    #[serde(default)]
    store: StoreKind,
    /// Who logged in (absent from files written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    tokens: Option<TokenSet>,
}

/// A stored login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    /// The profile name.
    pub name: String,
    /// The issuer.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// Where to refresh.
    pub token_endpoint: String,
    /// Where to revoke.
    pub revocation_endpoint: Option<String>,
    /// Where the tokens are kept.
    #[serde(default)]
    pub store: StoreKind,
    /// Who logged in, for people to read: the validated ID token's
    /// `name`, else `email`, `preferred_username` or `sub`
    /// ([`crate::id_token::display_name`]). `None` without an ID token.
    #[serde(default)]
    pub account: Option<String>,
    /// The tokens.
    pub tokens: TokenSet,
}

impl Profile {
    /// Who logged in: the account kept at login, else (a profile written
    /// before it was kept) read from the stored ID token.
    pub fn account(&self) -> Option<String> {
        self.account.clone().or_else(|| {
            self.tokens
                .id_token
                .as_deref()
                .and_then(crate::id_token::stored_claims)
                .and_then(|c| crate::id_token::display_name(&c))
        })
    }
}

/// The cache directory and its files.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// Holds a profile's lock until dropped.
#[derive(Debug)]
pub struct LockGuard(#[allow(dead_code)] File); // the lock lives as long as the open file

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> ClientError {
    ClientError::Cache(format!("{what} {}: {e}", path.display()))
}

/// Profile names: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with a dot.
pub fn valid_name(name: &str) -> Result<(), ClientError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ClientError::Cache(format!(
            "profile name {name:?}: use 1 to 64 letters, digits, '.', '_' or '-'"
        )))
    }
}

impl Cache {
    /// `$PROOFKEY_CONFIG_DIR`, else the OS config directory + `proofkey`.
    pub fn default_dir() -> Result<PathBuf, ClientError> {
        if let Some(d) = std::env::var_os(CONFIG_DIR_ENV) {
            return Ok(PathBuf::from(d));
        }
        dirs::config_dir()
            .map(|d| d.join("proofkey"))
            .ok_or_else(|| ClientError::Cache(format!("no config directory; set {CONFIG_DIR_ENV}")))
    }

    /// A cache rooted at `dir` (the tokens live in `dir/tokens`).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn tokens_dir(&self) -> Result<PathBuf, ClientError> {
        let d = self.dir.join("tokens");
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&d)
            .map_err(|e| err("cannot create", &d, e))?;
        Ok(d)
    }

    /// Where a profile is stored.
    pub fn path(&self, name: &str) -> Result<PathBuf, ClientError> {
        valid_name(name)?;
        Ok(self.tokens_dir()?.join(format!("{name}.json")))
    }

    /// Takes the profile's exclusive lock, waiting for other processes.
    pub async fn lock(&self, name: &str) -> Result<LockGuard, ClientError> {
        valid_name(name)?;
        let path = self.tokens_dir()?.join(format!("{name}.lock"));
        tokio::task::spawn_blocking(move || {
            let mut opts = OpenOptions::new();
            opts.create(true).truncate(false).write(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let f = opts.open(&path).map_err(|e| err("cannot open", &path, e))?;
            f.lock().map_err(|e| err("cannot lock", &path, e))?;
            Ok(LockGuard(f))
        })
        .await
        .map_err(|e| ClientError::Cache(e.to_string()))?
    }

    fn read_disk(&self, name: &str) -> Result<Option<OnDisk>, ClientError> {
        let path = self.path(name)?;
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| err("unreadable", &path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err("cannot read", &path, e)),
        }
    }

    /// The stored profile, if any (its tokens from the keyring when it
    /// lives there).
    pub async fn load(&self, name: &str) -> Result<Option<Profile>, ClientError> {
        let Some(d) = self.read_disk(name)? else {
            return Ok(None);
        };
        let tokens = match (d.store, d.tokens) {
            (StoreKind::File, Some(t)) => t,
            (StoreKind::File, None) => {
                return Err(ClientError::Cache(format!(
                    "profile {name:?} has no tokens in its file"
                )))
            }
            (StoreKind::Keyring, _) => {
                let n = name.to_owned();
                let text =
                    keyring_call("read the tokens", move || keyring_entry(&n)?.get_password())
                        .await?;
                serde_json::from_str(&text)
                    .map_err(|e| ClientError::Keyring(format!("unreadable tokens: {e}")))?
            }
        };
        Ok(Some(Profile {
            name: d.name,
            issuer: d.issuer,
            client_id: d.client_id,
            token_endpoint: d.token_endpoint,
            revocation_endpoint: d.revocation_endpoint,
            store: d.store,
            account: d.account,
            tokens,
        }))
    }

    /// Writes the profile atomically with mode 0600 (and its tokens to the
    /// keyring when it lives there). Call with the lock held.
    pub async fn save(&self, profile: &Profile, _lock: &LockGuard) -> Result<(), ClientError> {
        let path = self.path(&profile.name)?;
        let tokens = match profile.store {
            StoreKind::File => Some(profile.tokens.clone()),
            StoreKind::Keyring => {
                let n = profile.name.clone();
                let text = serde_json::to_string(&profile.tokens)
                    .map_err(|e| ClientError::Keyring(e.to_string()))?;
                keyring_call("store the tokens", move || {
                    keyring_entry(&n)?.set_password(&text)
                })
                .await?;
                None
            }
        };
        let disk = OnDisk {
            name: profile.name.clone(),
            issuer: profile.issuer.clone(),
            client_id: profile.client_id.clone(),
            token_endpoint: profile.token_endpoint.clone(),
            revocation_endpoint: profile.revocation_endpoint.clone(),
            store: profile.store,
            account: profile.account.clone(),
            tokens,
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let tmp = dir.join(format!(".{}.{}.tmp", profile.name, std::process::id()));
        let bytes = serde_json::to_vec_pretty(&disk).map_err(|e| err("cannot encode", &path, e))?;
        let mut opts = OpenOptions::new();
        opts.create(true).truncate(true).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let write = || -> std::io::Result<()> {
            let mut f = opts.open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            err("cannot write", &path, e)
        })
    }

    /// Deletes a profile (and its keyring entry); false if there was none.
    pub async fn delete(&self, name: &str, _lock: &LockGuard) -> Result<bool, ClientError> {
        let path = self.path(name)?;
        let Some(d) = self.read_disk(name)? else {
            return Ok(false);
        };
        if d.store == StoreKind::Keyring {
            let n = name.to_owned();
            let gone = keyring_call("delete the tokens", move || {
                match keyring_entry(&n)?.delete_credential() {
                    Err(keyring::Error::NoEntry) => Ok(()),
                    other => other,
                }
            });
            gone.await?;
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(err("cannot delete", &path, e)),
        }
    }

    /// Every stored profile, by name, with its file. A profile whose tokens
    /// cannot be read (a keyring that is locked, say) is listed with the
    /// error instead.
    pub async fn list(
        &self,
    ) -> Result<Vec<(String, PathBuf, Result<Profile, ClientError>)>, ClientError> {
        let dir = self.tokens_dir()?;
        let mut out = vec![];
        for entry in fs::read_dir(&dir).map_err(|e| err("cannot list", &dir, e))? {
            let path = entry.map_err(|e| err("cannot list", &dir, e))?.path();
            if path.extension().is_some_and(|x| x == "json") {
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned();
                if valid_name(&name).is_err() {
                    continue;
                }
                let p = self
                    .load(&name)
                    .await
                    .and_then(|p| p.ok_or_else(|| ClientError::Cache("vanished".into())));
                out.push((name, path, p));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Marks the profile's access token as expired if it is still
    /// `access_token` (compared in constant time), so that the next
    /// [`Cache::tokens_valid_for`] refreshes it: what a tool reports when a
    /// server refused the token (git's `erase`). The refresh token stays.
    /// Whether it was marked.
    pub async fn discard_access_token(
        &self,
        name: &str,
        access_token: &str,
    ) -> Result<bool, ClientError> {
        use subtle::ConstantTimeEq as _;
        let lock = self.lock(name).await?;
        let Some(mut profile) = self.load(name).await? else {
            return Ok(false);
        };
        let same: bool = profile
            .tokens
            .access_token
            .as_bytes()
            .ct_eq(access_token.as_bytes())
            .into();
        if !same {
            return Ok(false);
        }
        profile.tokens.expires_at = Some(0);
        self.save(&profile, &lock).await?;
        Ok(true)
    }

    /// A valid access token for the profile: the stored one if it lives
    /// another [`REFRESH_MARGIN`] seconds, else a refreshed one. The refresh
    /// happens under the profile's lock, after re-reading the file, so of
    /// several processes asking at once one refreshes and the others pick
    /// up its result.
    pub async fn valid_tokens(
        &self,
        http: &reqwest::Client,
        name: &str,
    ) -> Result<Profile, ClientError> {
        self.tokens_valid_for(http, name, REFRESH_MARGIN, false, false)
            .await
    }

    /// [`Cache::valid_tokens`], with a token that lives at least
    /// `min_valid` more seconds (at least [`REFRESH_MARGIN`]): a long job
    /// asks for what it needs, and a token that would expire within it is
    /// refreshed first. `force` refreshes whatever the token's age. Under
    /// the profile's lock like every refresh: concurrent callers that need
    /// the same time get one refresh between them, the first; the others
    /// find its token. A server whose tokens live less than `min_valid`
    /// cannot do better than a fresh one: that is returned, and
    /// `proofkey token` says so. With `id_token`, the stored ID token must
    /// live as long too (it may expire before the access token; the
    /// refresh brings a new one).
    pub async fn tokens_valid_for(
        &self,
        http: &reqwest::Client,
        name: &str,
        min_valid: i64,
        force: bool,
        id_token: bool,
    ) -> Result<Profile, ClientError> {
        let login = |why: &str| {
            ClientError::LoginRequired(format!("{why}; run: proofkey login --profile {name} ..."))
        };
        let lock = self.lock(name).await?;
        let Some(mut profile) = self.load(name).await? else {
            return Err(login(&format!("no login stored for profile {name:?}")));
        };
        let now = token::now();
        let margin = min_valid.max(REFRESH_MARGIN);
        let lives = |exp: Option<i64>| exp.is_none_or(|exp| exp - margin > now);
        let id_token_lives = !id_token
            || lives(
                profile
                    .tokens
                    .id_token
                    .as_deref()
                    .and_then(crate::id_token::stored_expiry),
            );
        if !force && lives(profile.tokens.expires_at) && id_token_lives {
            return Ok(profile);
        }
        let Some(rt) = profile.tokens.refresh_token.clone() else {
            return Err(login(
                "the access token has expired and there is no refresh token",
            ));
        };
        // RFC 9449 §5: a bound refresh token needs a proof by its key.
        let key = profile.tokens.dpop()?;
        match token::refresh(
            http,
            &profile.token_endpoint,
            &profile.client_id,
            &rt,
            key.as_ref(),
        )
        .await
        {
            Ok(mut fresh) => {
                // A server may keep the refresh token or the ID token.
                if fresh.refresh_token.is_none() {
                    fresh.refresh_token = Some(rt);
                }
                if fresh.id_token.is_none() {
                    fresh.id_token = profile.tokens.id_token.take();
                }
                profile.tokens = fresh;
                self.save(&profile, &lock).await?;
                Ok(profile)
            }
            Err(ClientError::OAuth { error, .. }) if error == "invalid_grant" => Err(login(
                "the server no longer accepts the refresh token (expired, revoked or reused)",
            )),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> Profile {
        Profile {
            name: name.into(),
            issuer: "https://a.example".into(),
            client_id: "c".into(),
            token_endpoint: "https://a.example/token".into(),
            revocation_endpoint: None,
            store: StoreKind::File,
            account: None,
            tokens: TokenSet {
                access_token: "at".into(),
                token_type: "Bearer".into(),
                expires_at: Some(token::now() + 3600),
                refresh_token: None,
                id_token: None,
                scope: None,
                dpop_key: None,
            },
        }
    }

    #[tokio::test]
    async fn saves_atomically_with_mode_0600_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let lock = cache.lock("work").await.unwrap();
        cache.save(&profile("work"), &lock).await.unwrap();
        let path = cache.path("work").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            let tokens_dir = path.parent().unwrap();
            assert_eq!(
                fs::metadata(tokens_dir).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
        assert_eq!(
            cache
                .load("work")
                .await
                .unwrap()
                .unwrap()
                .tokens
                .access_token,
            "at"
        );
        assert_eq!(cache.list().await.unwrap().len(), 1);
        // No temporary file left behind.
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .collect();
        assert!(leftovers.is_empty());
        assert!(cache.delete("work", &lock).await.unwrap());
        assert!(cache.load("work").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_keyring_store_never_falls_back_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let lock = cache.lock("kr").await.unwrap();
        let mut p = profile("kr");
        p.store = StoreKind::Keyring;
        match cache.save(&p, &lock).await {
            // A machine with a working keyring: the file holds no token.
            Ok(()) => {
                let text = fs::read_to_string(cache.path("kr").unwrap()).unwrap();
                assert!(!text.contains("\"at\""), "{text}");
                assert_eq!(
                    cache.load("kr").await.unwrap().unwrap().tokens.access_token,
                    "at"
                );
                assert!(cache.delete("kr", &lock).await.unwrap());
            }
            // No keyring here: a clear error, and nothing written.
            Err(e) => {
                assert!(matches!(e, ClientError::Keyring(_)), "{e}");
                assert!(e.to_string().contains("keyring"), "{e}");
                assert!(!cache.path("kr").unwrap().exists());
            }
        }
    }

    /// A file written before the account was kept still loads, and says
    /// who from its ID token; a new one keeps the account.
    #[tokio::test]
    async fn old_profiles_load_and_name_their_account() {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"s-1","email":"old@example.com"}"#);
        let old = serde_json::json!({
            "name": "old", "issuer": "https://a.example", "client_id": "c",
            "token_endpoint": "https://a.example/token", "revocation_endpoint": null,
            "tokens": {"access_token": "at", "id_token": format!("h.{payload}.s")}
        });
        fs::write(cache.path("old").unwrap(), old.to_string()).unwrap();
        let p = cache.load("old").await.unwrap().unwrap();
        assert_eq!(p.account, None);
        assert_eq!(p.account().as_deref(), Some("old@example.com"));

        let lock = cache.lock("new").await.unwrap();
        let mut p = profile("new");
        p.account = Some("Alice".into());
        cache.save(&p, &lock).await.unwrap();
        let back = cache.load("new").await.unwrap().unwrap();
        assert_eq!(back.account().as_deref(), Some("Alice"));
    }

    #[test]
    fn profile_names_are_checked() {
        assert!(valid_name("default").is_ok());
        assert!(valid_name("../etc").is_err());
        assert!(valid_name(".hidden").is_err());
        assert!(valid_name("").is_err());
    }

    #[tokio::test]
    async fn a_missing_profile_asks_for_a_login() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let http = crate::http_client().unwrap();
        let e = cache.valid_tokens(&http, "none").await.unwrap_err();
        assert!(matches!(e, ClientError::LoginRequired(_)), "{e}");
        assert!(e.to_string().contains("proofkey login"));
    }
}
