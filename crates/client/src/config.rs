//! Profiles set up from a file, so that a team can ship one file and its
//! people run `proofkey login --profile work`.
//!
//! The file is TOML, at `$PROOFKEY_CONFIG`, else `config.toml` in the
//! config directory ([`crate::cache::Cache::default_dir`]):
//!
//! ```toml
//! [profiles.work]
//! issuer = "https://id.example.com"
//! client_id = "proofkey-cli"
//! scopes = ["openid", "profile", "offline_access"]
//! store = "keyring"          # or "file" (the default)
//! dpop = false               # bearer tokens, e.g. for kubectl, git, docker
//! credential_hosts = ["git.example.com", "registry.example.com"]
//! credential_username = "oauth2"
//! credential_auth = "basic"  # or "bearer" (git 2.46+)
//! ```
//!
//! Every key is optional; a command-line flag wins over the file. Unknown
//! keys are errors (a misspelt `issuer` must not pass silently), and so is
//! a file that cannot be read, except that the default file may be absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cache::{valid_name, Cache, StoreKind};
use crate::ClientError;

/// Environment variable naming the profiles file.
pub const CONFIG_ENV: &str = "PROOFKEY_CONFIG";

/// The file's size limit: it is a few lines; anything larger is a mistake.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The profiles file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileConfig>,
}

/// One profile's settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// The authorization server's issuer URL.
    pub issuer: Option<String>,
    /// The public client id registered for the tool.
    pub client_id: Option<String>,
    /// The scopes to ask for.
    pub scopes: Option<Vec<String>>,
    /// Where to keep the tokens.
    pub store: Option<StoreKind>,
    /// `false`: never bind the tokens to a DPoP key (`login --no-dpop`).
    pub dpop: Option<bool>,
    /// `false`: never push the authorization request (`login --no-par`).
    pub par: Option<bool>,
    /// The hosts (`host` or `host:port`) the credential helpers give this
    /// profile's token to. No other host ever gets it.
    #[serde(default)]
    pub credential_hosts: Vec<String>,
    /// The user name the credential helpers pair with the token
    /// (default `oauth2`).
    pub credential_username: Option<String>,
    /// How git sends the token: HTTP Basic with the user name (the
    /// default), or `Authorization: Bearer` (git 2.46 and later).
    pub credential_auth: Option<CredentialAuth>,
}

/// How git's credential helper hands over the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialAuth {
    /// HTTP Basic: the user name and the token as the password.
    Basic,
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1), through git's
    /// `authtype` capability.
    Bearer,
}

impl ProfileConfig {
    /// Whether the credential helpers may give the token to `host`
    /// (`host` or `host:port`, compared in [`host_key`] form).
    pub fn allows_host(&self, host: &str) -> bool {
        let Some(key) = host_key(host) else {
            return false;
        };
        self.credential_hosts
            .iter()
            .any(|h| host_key(h).as_deref() == Some(key.as_str()))
    }
}

/// `host[:port]` as a URL has it: lower case, a Unicode name in its
/// ASCII (IDNA) form, and without `:443`, so that `Git.example.com`,
/// `git.example.com:443` and `git.example.com` are one host. `None` for
/// what is not a host.
pub fn host_key(h: &str) -> Option<String> {
    if h.is_empty()
        || h.contains(['/', '?', '#', '@', '\\', '%'])
        || h.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let u = url::Url::parse(&format!("https://{h}/")).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

impl ConfigFile {
    /// Where the file is, and whether it was named explicitly (then it
    /// must exist).
    pub fn location() -> Result<(PathBuf, bool), ClientError> {
        match std::env::var_os(CONFIG_ENV) {
            Some(p) if !p.is_empty() => Ok((PathBuf::from(p), true)),
            _ => Ok((Cache::default_dir()?.join("config.toml"), false)),
        }
    }

    /// Reads the file at [`ConfigFile::location`]; no default file is an
    /// empty configuration.
    pub fn load() -> Result<ConfigFile, ClientError> {
        let (path, explicit) = Self::location()?;
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok(ConfigFile::default())
            }
            _ => Self::read(&path),
        }
    }

    /// Reads and checks the file at `path`.
    pub fn read(path: &Path) -> Result<ConfigFile, ClientError> {
        let e = |why: String| ClientError::Config(format!("{}: {why}", path.display()));
        let meta = std::fs::metadata(path).map_err(|x| e(x.to_string()))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(e(format!("larger than {MAX_CONFIG_BYTES} bytes")));
        }
        // It says where tokens may go: like ssh with its config, refuse a
        // file that others could have changed.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            if meta.mode() & 0o022 != 0 {
                return Err(e(format!(
                    "others can write it (mode {:o}); run: chmod go-w {}",
                    meta.mode() & 0o777,
                    path.display()
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|x| e(x.to_string()))?;
        let file: ConfigFile = toml::from_str(&text).map_err(|x| e(x.to_string()))?;
        let mut hosts: BTreeMap<String, &str> = BTreeMap::new();
        for (name, p) in &file.profiles {
            valid_name(name).map_err(|x| e(x.to_string()))?;
            for h in &p.credential_hosts {
                let key = host_key(h).ok_or_else(|| {
                    e(format!(
                        "profile {name}: credential_hosts: {h:?} is not a host or host:port (no scheme, no path)"
                    ))
                })?;
                if let Some(other) = hosts.insert(key, name) {
                    if other != name {
                        return Err(e(format!(
                            "{h} is in the credential_hosts of both {other} and {name}; a host gets one profile's token"
                        )));
                    }
                }
            }
            if let Some(issuer) = &p.issuer {
                let u = url::Url::parse(issuer)
                    .map_err(|x| e(format!("profile {name}: issuer {issuer:?}: {x}")))?;
                if !matches!(u.scheme(), "https" | "http") {
                    return Err(e(format!(
                        "profile {name}: issuer {issuer:?} is not an http(s) URL"
                    )));
                }
            }
            if let Some(u) = &p.credential_username {
                if u.is_empty() || u.contains(['\n', '\r', '\0']) {
                    return Err(e(format!(
                        "profile {name}: credential_username must be one non-empty line"
                    )));
                }
            }
        }
        Ok(file)
    }

    /// The settings of profile `name` (empty when the file has none).
    pub fn profile(&self, name: &str) -> ProfileConfig {
        self.profiles.get(name).cloned().unwrap_or_default()
    }

    /// The first profile (by name) whose `credential_hosts` has `host`.
    pub fn profile_for_host(&self, host: &str) -> Option<(&str, &ProfileConfig)> {
        self.profiles
            .iter()
            .find(|(_, p)| p.allows_host(host))
            .map(|(n, p)| (n.as_str(), p))
    }
}

/// `host` or `host:port`: a DNS name (Unicode or ASCII), an IPv4 address
/// or a bracketed IPv6 address, then an optional port; nothing else.
pub fn valid_host(h: &str) -> bool {
    host_key(h).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ClientError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        ConfigFile::read(&path)
    }

    #[test]
    fn reads_a_profile_and_refuses_typos_and_bad_values() {
        let f = parse(
            r#"
[profiles.work]
issuer = "https://id.example.com"
client_id = "cli"
scopes = ["openid", "offline_access"]
store = "keyring"
dpop = false
credential_auth = "bearer"
credential_hosts = ["git.example.com", "127.0.0.1:8080", "[::1]:5000"]
"#,
        )
        .unwrap();
        let w = f.profile("work");
        assert_eq!(w.issuer.as_deref(), Some("https://id.example.com"));
        assert_eq!(w.store, Some(StoreKind::Keyring));
        assert_eq!(w.dpop, Some(false));
        assert_eq!(w.credential_auth, Some(CredentialAuth::Bearer));
        assert!(w.allows_host("GIT.example.com"));
        assert!(w.allows_host("git.example.com:443"));
        assert!(!w.allows_host("git.example.com:8443"));
        assert!(!w.allows_host("git.example.com.evil"));
        assert_eq!(f.profile_for_host("127.0.0.1:8080").unwrap().0, "work");
        assert!(f.profile_for_host("127.0.0.1").is_none());
        assert!(f.profile("other").issuer.is_none());

        for (bad, why) in [
            ("[profiles.work]\nisuer = \"https://x\"", "unknown field `isuer`"),
            ("[profiles.work]\nstore = \"floppy\"", "unknown variant `floppy`"),
            ("[profiles.work]\nissuer = \"ftp://x\"", "is not an http(s) URL"),
            ("[profiles.\"../x\"]\nissuer = \"https://x\"", "profile name"),
            ("[profiles.work]\ncredential_hosts = [\"https://git.example.com\"]", "not a host"),
            ("[profiles.work]\ncredential_hosts = [\"git.example.com/path\"]", "not a host"),
            ("[profiles.work]\ncredential_hosts = [\"user@git.example.com\"]", "not a host"),
            ("[profiles.work]\ncredential_username = \"a\\nb\"", "one non-empty line"),
            ("[profile.work]\nissuer = \"https://x\"", "unknown field `profile`"),
            (
                "[profiles.a]\ncredential_hosts = [\"h.example\"]\n[profiles.b]\ncredential_hosts = [\"H.example\"]",
                "both a and b",
            ),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("config.toml") && e.contains(why), "{bad}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[profiles.work]\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        let e = ConfigFile::read(&path).unwrap_err().to_string();
        assert!(e.contains("others can write it (mode 664)"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(ConfigFile::read(&path).is_ok());
    }

    #[test]
    fn host_keys() {
        assert_eq!(
            host_key("Git.Example.com:443").as_deref(),
            Some("git.example.com")
        );
        assert_eq!(
            host_key("127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host_key("bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(host_key("[::1]:5000").as_deref(), Some("[::1]:5000"));
        for bad in ["", "a/b", "u@h", "https://h", "a b", "h?x"] {
            assert_eq!(host_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn hosts() {
        for ok in ["a.example", "a.example:443", "127.0.0.1", "[::1]:5000"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["", "a b", "a.example/", "https://a", "a@b", "a:b:c", "a?x"] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
