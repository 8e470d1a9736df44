//! Signing keys sealed at rest under a key-encryption key (issue 13).
//!
//! The private signing keys live in the database, which is copied into
//! backups, dumps and replicas. With a key-encryption key (KEK) configured
//! (`key_encryption_key_file`: 32 random bytes, base64url, in a file only
//! the server can read), each key's PKCS#8 is stored sealed with
//! AES-256-GCM (aws-lc-rs): a database without the file yields no key.
//!
//! A sealed key is `pkkek1` ‖ the KEK's id (the first 8 bytes of SHA-256
//! of the KEK) ‖ a random 96-bit nonce ‖ ciphertext and tag; the key's
//! `kid` and `alg` are its associated data, so a sealed key cannot be
//! moved to another row. A key stored before a KEK was configured (plain
//! PKCS#8, which never starts with the magic: DER starts with 0x30) is
//! sealed at the next start with a KEK: that is the migration.

use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::model::StoredKey;
use crate::secret::PrivateKeyDer;

/// What a sealed key starts with.
pub const MAGIC: &[u8] = b"pkkek1";
const ID_LEN: usize = 8;

/// Why a key could not be sealed or opened, or a KEK read.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The KEK file could not be read or written.
    #[error("key-encryption key file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A key is sealed but no KEK is configured.
    #[error("signing key {0} is encrypted: set key_encryption_key_file (or PROOFKEY_KEY_ENCRYPTION_KEY_FILE)")]
    NoKek(String),
    /// A key is sealed under another KEK.
    #[error("signing key {0} is encrypted under another key-encryption key")]
    OtherKek(String),
    /// The seal does not open (corrupted, or moved to another row).
    #[error("signing key {0} does not decrypt: corrupted or tampered with")]
    Tampered(String),
    /// The cipher failed.
    #[error("the cipher failed")]
    Crypto,
}

/// A key-encryption key. `Debug` shows only its id.
pub struct Kek {
    key: LessSafeKey,
    id: [u8; ID_LEN],
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", hex(&self.id))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Where systemd keeps system services' credentials
/// (`$CREDENTIALS_DIRECTORY` is a directory under it).
#[cfg(unix)]
const SYSTEMD_CREDENTIALS: &str = "/run/credentials";

impl Kek {
    /// From 32 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, KekError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KekError::Crypto)?;
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest::digest(&digest::SHA256, bytes).as_ref()[..ID_LEN]);
        Ok(Self {
            key: LessSafeKey::new(key),
            id,
        })
    }

    /// Reads a KEK file: 32 bytes, base64url (padding and surrounding
    /// white space allowed). A file others can read is refused; so is one
    /// its group can read, except in systemd's credentials directory
    /// (`$CREDENTIALS_DIRECTORY`, `LoadCredential=`, under
    /// `/run/credentials`), which systemd makes private to the service and
    /// where it grants the service's user read access through an ACL
    /// (shown as group read, 0440).
    pub fn from_file(path: &Path) -> Result<Self, KekError> {
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
        Self::from_file_in(path, credentials.as_deref())
    }

    /// [`Kek::from_file`] with the credentials directory given.
    fn from_file_in(path: &Path, credentials: Option<&Path>) -> Result<Self, KekError> {
        let fail = |reason: String| KekError::File {
            path: path.display().to_string(),
            reason,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| fail(e.to_string()))?
                .permissions()
                .mode();
            // systemd's directory for system services, and nowhere else:
            // the variable alone (set by anyone) proves nothing.
            let in_credentials =
                credentials.is_some_and(|dir| match (dir.canonicalize(), path.canonicalize()) {
                    (Ok(dir), Ok(file)) => {
                        dir.starts_with(SYSTEMD_CREDENTIALS) && file.starts_with(dir)
                    }
                    _ => false,
                });
            let private = if in_credentials { 0o007 } else { 0o077 };
            if mode & private != 0 {
                return Err(fail(format!(
                    "readable by its group or others (mode {:o}); chmod 600 it",
                    mode & 0o777
                )));
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?);
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(text.trim().trim_end_matches('='))
                .map_err(|_| fail("not base64url".into()))?,
        );
        if bytes.len() != 32 {
            return Err(fail(format!("{} bytes; a KEK is 32", bytes.len())));
        }
        Self::new(&bytes)
    }

    /// Creates a new KEK file (0600; never overwrites one) and returns the
    /// KEK.
    pub fn generate_file(path: &Path) -> Result<Self, KekError> {
        use std::io::Write as _;
        let fail = |reason: String| KekError::File {
            path: path.display().to_string(),
            reason,
        };
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| fail(e.to_string()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| fail(e.to_string()))?;
        let text = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
        writeln!(file, "{}", text.as_str()).map_err(|e| fail(e.to_string()))?;
        Self::new(bytes.as_ref())
    }

    /// The KEK's id, as stored in the keys it seals (hex).
    pub fn id(&self) -> String {
        hex(&self.id)
    }

    /// `key` with its private part sealed (unchanged if already sealed
    /// under this KEK).
    pub fn seal(&self, key: &StoredKey) -> Result<StoredKey, KekError> {
        let der = key.private_pkcs8.expose();
        if is_sealed(key) {
            self.open(key)?;
            return Ok(key.clone());
        }
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| KekError::Crypto)?;
        let mut sealed = Vec::with_capacity(MAGIC.len() + ID_LEN + NONCE_LEN + der.len() + 16);
        sealed.extend_from_slice(MAGIC);
        sealed.extend_from_slice(&self.id);
        sealed.extend_from_slice(&nonce);
        let mut body = der.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(key)),
                &mut body,
            )
            .map_err(|_| KekError::Crypto)?;
        sealed.extend_from_slice(&body);
        Ok(StoredKey {
            private_pkcs8: PrivateKeyDer::new(sealed),
            ..key.clone()
        })
    }

    /// `key` with its private part opened (unchanged if it is not sealed).
    pub fn open(&self, key: &StoredKey) -> Result<StoredKey, KekError> {
        if !is_sealed(key) {
            return Ok(key.clone());
        }
        let blob = key.private_pkcs8.expose();
        let rest = &blob[MAGIC.len()..];
        if rest.len() < ID_LEN + NONCE_LEN + 16 {
            return Err(KekError::Tampered(key.kid.clone()));
        }
        if rest[..ID_LEN] != self.id {
            return Err(KekError::OtherKek(key.kid.clone()));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&rest[ID_LEN..ID_LEN + NONCE_LEN]);
        let mut body = Zeroizing::new(rest[ID_LEN + NONCE_LEN..].to_vec());
        let der = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(key)),
                &mut body,
            )
            .map_err(|_| KekError::Tampered(key.kid.clone()))?;
        Ok(StoredKey {
            private_pkcs8: PrivateKeyDer::new(der.to_vec()),
            ..key.clone()
        })
    }

    /// Whether `key` is sealed under this KEK.
    pub fn sealed_it(&self, key: &StoredKey) -> bool {
        is_sealed(key) && key.private_pkcs8.expose()[MAGIC.len()..].starts_with(&self.id)
    }
}

/// The associated data: what the key is, so that it opens only in its row.
fn aad(key: &StoredKey) -> Vec<u8> {
    format!("{}\u{0}{}", key.kid, key.alg).into_bytes()
}

/// Whether a stored key's private part is sealed.
pub fn is_sealed(key: &StoredKey) -> bool {
    key.private_pkcs8.expose().starts_with(MAGIC)
}

/// The keys, opened for use: sealed ones with `kek` (an error without one,
/// or with another), plain ones as they are.
pub fn open_all(keys: &[StoredKey], kek: Option<&Kek>) -> Result<Vec<StoredKey>, KekError> {
    keys.iter()
        .map(|k| match (is_sealed(k), kek) {
            (false, _) => Ok(k.clone()),
            (true, Some(kek)) => kek.open(k),
            (true, None) => Err(KekError::NoKek(k.kid.clone())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str) -> StoredKey {
        crate::keys::generate("ES256", kid.into(), 0, 0).unwrap()
    }

    #[test]
    fn seal_and_open() {
        let kek = Kek::new(&[7u8; 32]).unwrap();
        let plain = key("k1");
        let sealed = kek.seal(&plain).unwrap();
        assert!(is_sealed(&sealed) && kek.sealed_it(&sealed));
        assert!(!sealed
            .private_pkcs8
            .expose()
            .windows(plain.private_pkcs8.expose().len())
            .any(|w| w == plain.private_pkcs8.expose()));
        assert_eq!(kek.open(&sealed).unwrap(), plain);
        assert_eq!(kek.seal(&sealed).unwrap(), sealed, "sealed once");
        // Another KEK, no KEK, another row, a flipped bit: refused.
        let other = Kek::new(&[8u8; 32]).unwrap();
        assert!(matches!(other.open(&sealed), Err(KekError::OtherKek(_))));
        assert!(matches!(
            open_all(std::slice::from_ref(&sealed), None),
            Err(KekError::NoKek(_))
        ));
        let moved = StoredKey {
            kid: "k2".into(),
            ..sealed.clone()
        };
        assert!(matches!(kek.open(&moved), Err(KekError::Tampered(_))));
        let mut bytes = sealed.private_pkcs8.expose().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let flipped = StoredKey {
            private_pkcs8: PrivateKeyDer::new(bytes),
            ..sealed
        };
        assert!(matches!(kek.open(&flipped), Err(KekError::Tampered(_))));
    }

    #[test]
    fn kek_files_are_made_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let made = Kek::generate_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(Kek::from_file(&path).unwrap().id(), made.id());
        assert!(Kek::generate_file(&path).is_err(), "never overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(Kek::from_file(&path).is_err(), "readable by others");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
            assert!(
                Kek::from_file_in(&path, None).is_err(),
                "readable by its group"
            );
            assert!(
                Kek::from_file_in(&path, Some(dir.path())).is_err(),
                "a credentials directory outside /run/credentials proves nothing"
            );
            // Under systemd's directory (the test runs as root in CI; it
            // makes its own directory there and removes it).
            let root = std::path::Path::new(SYSTEMD_CREDENTIALS);
            let made_root = !root.exists();
            let creds = root.join(format!("proofkey-test-{}", std::process::id()));
            std::fs::create_dir_all(&creds).unwrap();
            let in_creds = creds.join("kek");
            std::fs::copy(&path, &in_creds).unwrap();
            std::fs::set_permissions(&in_creds, std::fs::Permissions::from_mode(0o440)).unwrap();
            let accepted = Kek::from_file_in(&in_creds, Some(&creds)).is_ok();
            std::fs::set_permissions(&in_creds, std::fs::Permissions::from_mode(0o444)).unwrap();
            let others = Kek::from_file_in(&in_creds, Some(&creds)).is_err();
            let _ = std::fs::remove_dir_all(&creds);
            if made_root {
                let _ = std::fs::remove_dir(root);
            }
            assert!(
                accepted,
                "group read in systemd's credentials directory (an ACL)"
            );
            assert!(others, "readable by others, even there");
        }
    }
}
