//! Signing keys at rest (issue 13): sealed under a key-encryption key, a
//! database without its key yields no key and the server does not start;
//! keys stored before a key was configured are sealed at the next start;
//! `keys rewrap` moves them to a new key. Against the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{free_port, proofkey};

fn write_kek(dir: &Path, name: &str, byte: u8) -> PathBuf {
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([byte; 32]);
    std::fs::write(&path, format!("{text}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Starts `proofkey serve` on `db`; Ok(the JWKS kids) once it serves, or
/// Err(its stderr) if it exits.
fn serve_once(db: &str, extra: &[&str]) -> Result<Vec<String>, String> {
    let port = free_port();
    let mut child = proofkey()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            db,
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if let Ok(r) = reqwest::blocking::get(format!("http://127.0.0.1:{port}/jwks.json")) {
            if r.status().is_success() {
                let jwks: serde_json::Value = r.json().unwrap();
                let mut kids: Vec<String> = jwks["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k["kid"].as_str().unwrap().to_owned())
                    .collect();
                kids.sort();
                let _ = child.kill();
                let _ = child.wait();
                return Ok(kids);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the server neither served nor exited"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs an admin command (no PROOFKEY_* variables inherited); its JSON.
fn admin_json(args: &[&str]) -> serde_json::Value {
    let out = proofkey().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn keys_encrypted(db: &str) -> Vec<bool> {
    let v = admin_json(&["keys", "list", "--json", "--database", db]);
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["encrypted"].as_bool().unwrap())
        .collect()
}

#[test]
fn keys_are_sealed_and_useless_without_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("keys.db").display());
    let kek = write_kek(dir.path(), "kek", 7);
    let kek_arg = kek.to_str().unwrap();
    let kids = serve_once(&db, &["--key-encryption-key-file", kek_arg]).unwrap();
    assert_eq!(kids.len(), 3);
    assert_eq!(keys_encrypted(&db), [true, true, true]);
    // No PKCS#8 in the file: DER private keys start 30 .. 02 01 00 30.
    let bytes = std::fs::read(dir.path().join("keys.db")).unwrap();
    assert!(
        !bytes.windows(4).any(|w| w == [0x02, 0x01, 0x00, 0x30]),
        "plain PKCS#8 in the file"
    );
    // Without the key, or with another, the server does not start.
    let e = serve_once(&db, &[]).unwrap_err();
    assert!(
        e.contains("is encrypted") && e.contains("key_encryption_key_file"),
        "{e}"
    );
    let other = write_kek(dir.path(), "other", 8);
    let e = serve_once(&db, &["--key-encryption-key-file", other.to_str().unwrap()]).unwrap_err();
    assert!(e.contains("another key-encryption key"), "{e}");
    // With it, the same keys.
    assert_eq!(
        serve_once(&db, &["--key-encryption-key-file", kek_arg]).unwrap(),
        kids
    );
}

#[test]
fn unencrypted_keys_are_sealed_at_the_first_start_with_a_key_and_rewrap_moves_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("keys.db").display());
    let kids = serve_once(&db, &[]).unwrap();
    assert_eq!(keys_encrypted(&db), [false, false, false]);
    let kek = write_kek(dir.path(), "kek", 7);
    let kek_arg = kek.to_str().unwrap();
    assert_eq!(
        serve_once(&db, &["--key-encryption-key-file", kek_arg]).unwrap(),
        kids
    );
    assert_eq!(keys_encrypted(&db), [true, true, true]);
    // Rewrap under a new, generated key.
    let new = dir.path().join("new-kek");
    let v = admin_json(&[
        "keys",
        "rewrap",
        "--generate",
        "--json",
        "--database",
        &db,
        "--new-key-file",
        new.to_str().unwrap(),
        "--key-encryption-key-file",
        kek_arg,
    ]);
    assert_eq!(v["rewrapped"], 3);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        serve_once(&db, &["--key-encryption-key-file", new.to_str().unwrap()]).unwrap(),
        kids
    );
    let e = serve_once(&db, &["--key-encryption-key-file", kek_arg]).unwrap_err();
    assert!(e.contains("another key-encryption key"), "{e}");
}
