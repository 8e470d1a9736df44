//! `proofkey pkce`: make or check an RFC 7636 pair.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Args;
use proofkey_pkce::{CodeChallenge, CodeVerifier, Method, MAX_ENTROPY_BYTES, MIN_ENTROPY_BYTES};
use serde::Serialize;

/// Exit code for input that breaks a rule (and for clap's usage errors).
const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for `--check` when verifier and challenge do not match.
const EXIT_MISMATCH: u8 = 1;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  proofkey pkce\n  proofkey pkce --bytes 64\n  proofkey pkce --verifier dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\n  proofkey pkce --check --verifier V --challenge C   # exit 0 match, 1 mismatch, 2 malformed input"
)]
pub struct PkceArgs {
    /// Use this code_verifier instead of generating one (RFC 7636 §4.1: 43 to
    /// 128 characters of A-Z a-z 0-9 - . _ ~).
    #[arg(long, value_name = "V")]
    verifier: Option<String>,

    /// Number of random bytes in a generated verifier (32 to 96; 32 gives 43 characters).
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "verifier",
        value_parser = clap::value_parser!(u16).range(MIN_ENTROPY_BYTES as i64..=MAX_ENTROPY_BYTES as i64)
    )]
    bytes: Option<u16>,

    /// Check that --verifier matches --challenge (S256): exit 0 if so, 1 if not.
    #[arg(long, requires_all = ["verifier", "challenge"])]
    check: bool,

    /// The S256 code_challenge to check against (with --check).
    #[arg(long, value_name = "C", requires = "check")]
    challenge: Option<String>,
}

#[derive(Serialize)]
struct Pair<'a> {
    code_verifier: &'a str,
    code_challenge: &'a str,
    code_challenge_method: &'static str,
}

pub fn run(args: PkceArgs) -> ExitCode {
    let verifier = match (&args.verifier, args.bytes) {
        (Some(v), _) => match CodeVerifier::parse(v) {
            Ok(v) => v,
            Err(e) => return fail(EXIT_BAD_INPUT, &format!("invalid --verifier: {e}")),
        },
        (None, bytes) => {
            let bytes = bytes.map_or(proofkey_pkce::DEFAULT_ENTROPY_BYTES, usize::from);
            match CodeVerifier::try_generate(bytes) {
                Ok(v) => v,
                Err(e) => return fail(EXIT_BAD_INPUT, &e.to_string()),
            }
        }
    };

    if args.check {
        let Some(challenge) = args.challenge.as_deref() else {
            return fail(EXIT_BAD_INPUT, "--check needs --challenge");
        };
        let challenge = match CodeChallenge::parse(challenge, Method::S256) {
            Ok(c) => c,
            Err(e) => return fail(EXIT_BAD_INPUT, &format!("invalid --challenge: {e}")),
        };
        return if challenge.verify(&verifier) {
            ExitCode::SUCCESS
        } else {
            fail(EXIT_MISMATCH, "code_verifier does not match code_challenge")
        };
    }

    let challenge = CodeChallenge::s256(&verifier).as_str();
    let pair = Pair {
        code_verifier: verifier.secret(),
        code_challenge: &challenge,
        code_challenge_method: Method::S256.as_str(),
    };
    let mut out = std::io::stdout().lock();
    match serde_json::to_writer(&mut out, &pair).map(|()| writeln!(out)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("proofkey pkce: {message}");
    ExitCode::from(code)
}
