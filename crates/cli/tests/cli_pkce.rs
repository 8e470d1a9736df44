//! `proofkey pkce`, run as the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

const APPENDIX_B_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const APPENDIX_B_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn proofkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proofkey"))
        .args(args)
        .output()
        .unwrap()
}

fn pair(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "one JSON object on one line: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn prints_a_fresh_s256_pair() {
    let a = pair(&proofkey(&["pkce"]));
    let obj = a.as_object().unwrap();
    let keys: Vec<_> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(a["code_challenge_method"], "S256");
    let v = a["code_verifier"].as_str().unwrap();
    let c = a["code_challenge"].as_str().unwrap();
    assert_eq!(v.len(), 43);
    assert_eq!(c.len(), 43);
    // The printed pair checks out with the command itself.
    assert_eq!(
        // `=`: a random value may start with '-' (base64url), which would
        // otherwise read as an option (and did, once in a while).
        proofkey(&[
            "pkce",
            "--check",
            &format!("--verifier={v}"),
            &format!("--challenge={c}")
        ])
        .status
        .code(),
        Some(0)
    );
    // And it is fresh each time.
    let b = pair(&proofkey(&["pkce"]));
    assert_ne!(a["code_verifier"], b["code_verifier"]);
}

#[test]
fn prints_the_pair_for_a_given_verifier_appendix_b() {
    let p = pair(&proofkey(&["pkce", "--verifier", APPENDIX_B_VERIFIER]));
    assert_eq!(p["code_verifier"], APPENDIX_B_VERIFIER);
    assert_eq!(p["code_challenge"], APPENDIX_B_CHALLENGE);
    assert_eq!(p["code_challenge_method"], "S256");
}

#[test]
fn a_verifier_that_breaks_the_abnf_gets_the_reason_and_exit_2() {
    for (bad, reason) in [
        ("a".repeat(42), "at least 43"),
        ("a".repeat(129), "at most 128"),
        (format!("{}+", "a".repeat(43)), "forbidden character '+'"),
    ] {
        let out = proofkey(&["pkce", "--verifier", &bad]);
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(reason), "{err}");
    }
}

#[test]
fn bytes_sets_the_entropy_and_is_bounded() {
    for (n, len) in [("32", 43), ("64", 86), ("96", 128)] {
        let p = pair(&proofkey(&["pkce", "--bytes", n]));
        assert_eq!(
            p["code_verifier"].as_str().unwrap().len(),
            len,
            "--bytes {n}"
        );
    }
    for n in ["31", "97", "0", "-1", "many"] {
        let out = proofkey(&["pkce", "--bytes", n]);
        assert_eq!(out.status.code(), Some(2), "--bytes {n}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn check_exits_0_on_a_match_and_1_on_a_mismatch() {
    let ok = proofkey(&[
        "pkce",
        "--check",
        "--verifier",
        APPENDIX_B_VERIFIER,
        "--challenge",
        APPENDIX_B_CHALLENGE,
    ]);
    assert_eq!(ok.status.code(), Some(0));

    let other = "a".repeat(43);
    let bad = proofkey(&[
        "pkce",
        "--check",
        "--verifier",
        &other,
        "--challenge",
        APPENDIX_B_CHALLENGE,
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8(bad.stderr)
        .unwrap()
        .contains("does not match"));
}

#[test]
fn check_refuses_malformed_input_with_exit_2() {
    let short_challenge = proofkey(&[
        "pkce",
        "--check",
        "--verifier",
        APPENDIX_B_VERIFIER,
        "--challenge",
        "abc",
    ]);
    assert_eq!(short_challenge.status.code(), Some(2));
    assert!(String::from_utf8(short_challenge.stderr)
        .unwrap()
        .contains("--challenge"));

    let bad_verifier = proofkey(&[
        "pkce",
        "--check",
        "--verifier",
        "short",
        "--challenge",
        APPENDIX_B_CHALLENGE,
    ]);
    assert_eq!(bad_verifier.status.code(), Some(2));

    // --check without its operands is a usage error.
    assert_eq!(proofkey(&["pkce", "--check"]).status.code(), Some(2));
    assert_eq!(
        proofkey(&["pkce", "--check", "--verifier", APPENDIX_B_VERIFIER])
            .status
            .code(),
        Some(2)
    );
    // --challenge only makes sense with --check; --bytes not with --verifier.
    assert_eq!(
        proofkey(&["pkce", "--challenge", APPENDIX_B_CHALLENGE])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        proofkey(&["pkce", "--bytes", "32", "--verifier", APPENDIX_B_VERIFIER])
            .status
            .code(),
        Some(2)
    );
}
