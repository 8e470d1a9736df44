//! RFC 7636 conformance of the primitives, named after the rule each checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proofkey_pkce::{
    ChallengeError, ChallengePolicy, CodeChallenge, CodeVerifier, Method, VerifierError,
};

/// Appendix B, verbatim.
const APPENDIX_B_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const APPENDIX_B_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The octets Appendix B starts from.
const APPENDIX_B_OCTETS: [u8; 32] = [
    116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77,
    105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
];

fn secure() -> ChallengePolicy {
    ChallengePolicy::default()
}

mod appendix_b {
    use super::*;

    #[test]
    fn encodes_the_appendix_b_octets_to_the_appendix_b_verifier() {
        let v = CodeVerifier::from_entropy(&APPENDIX_B_OCTETS).unwrap();
        assert_eq!(v.secret(), APPENDIX_B_VERIFIER);
    }

    #[test]
    fn derives_the_appendix_b_challenge() {
        let v = CodeVerifier::parse(APPENDIX_B_VERIFIER).unwrap();
        assert_eq!(CodeChallenge::s256(&v).as_str(), APPENDIX_B_CHALLENGE);
    }

    #[test]
    fn verifies_the_appendix_b_pair() {
        let c = CodeChallenge::from_request(APPENDIX_B_CHALLENGE, Some("S256"), &secure()).unwrap();
        assert!(c.verify(&CodeVerifier::parse(APPENDIX_B_VERIFIER).unwrap()));
    }

    #[test]
    fn refuses_the_appendix_b_challenge_with_a_one_character_change_in_the_verifier() {
        let c = CodeChallenge::parse(APPENDIX_B_CHALLENGE, Method::S256).unwrap();
        let tampered = APPENDIX_B_VERIFIER.replace('d', "e");
        assert!(!c.verify(&CodeVerifier::parse(&tampered).unwrap()));
    }
}

/// §4.1: `code-verifier = 43*128unreserved`.
mod verifier_abnf {
    use super::*;

    #[test]
    fn checks_that_code_verifier_conforms_to_its_abnf_too_short_42() {
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(42)).unwrap_err(),
            VerifierError::TooShort { len: 42 }
        );
    }

    #[test]
    fn accepts_the_shortest_verifier_43() {
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
    }

    #[test]
    fn accepts_the_longest_verifier_128() {
        assert!(CodeVerifier::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn checks_that_code_verifier_conforms_to_its_abnf_too_long_129() {
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(129)).unwrap_err(),
            VerifierError::TooLong { len: 129 }
        );
    }

    #[test]
    fn refuses_the_empty_verifier() {
        assert_eq!(
            CodeVerifier::parse("").unwrap_err(),
            VerifierError::TooShort { len: 0 }
        );
    }

    #[test]
    fn accepts_every_unreserved_character() {
        let all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
        assert!(CodeVerifier::parse(all).is_ok());
    }

    /// One representative of each class of character outside `unreserved`.
    #[test]
    fn checks_that_code_verifier_conforms_to_its_abnf_forbidden_characters() {
        let classes: &[(&str, char)] = &[
            ("space", ' '),
            ("tab (control)", '\t'),
            ("newline (control)", '\n'),
            ("NUL (control)", '\0'),
            ("DEL (control)", '\u{7f}'),
            ("base64 plus", '+'),
            ("base64 slash", '/'),
            ("base64 padding", '='),
            ("percent (an encoding left in)", '%'),
            ("RFC 3986 sub-delim", '!'),
            ("RFC 3986 sub-delim", '&'),
            ("RFC 3986 gen-delim", ':'),
            ("RFC 3986 gen-delim", '#'),
            ("RFC 3986 gen-delim", '?'),
            ("other ASCII punctuation", '"'),
            ("other ASCII punctuation", '\\'),
            ("other ASCII punctuation", '^'),
            ("Latin-1 letter", 'é'),
            ("non-Latin letter", 'ж'),
            ("fullwidth digit", '０'),
            ("emoji", '🔑'),
        ];
        for (class, bad) in classes {
            let base = "a".repeat(50);
            let candidate = format!("{}{bad}{}", &base[..20], &base[20..]);
            assert_eq!(
                CodeVerifier::parse(&candidate).unwrap_err(),
                VerifierError::ForbiddenCharacter {
                    found: *bad,
                    position: 20
                },
                "{class} {bad:?} must be refused"
            );
        }
    }

    #[test]
    fn the_error_names_the_rule_that_failed() {
        let msg = CodeVerifier::parse("short").unwrap_err().to_string();
        assert!(msg.contains("at least 43"), "{msg}");
        let msg = CodeVerifier::parse(&format!("{}+", "a".repeat(50)))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("'+'") && msg.contains("position 50"), "{msg}");
    }
}

/// §4.2, §4.3 and §4.4.1: what an authorization request may carry.
mod challenge_request {
    use super::*;

    #[test]
    fn refuses_plain_by_default() {
        assert_eq!(
            CodeChallenge::from_request(APPENDIX_B_VERIFIER, Some("plain"), &secure()).unwrap_err(),
            ChallengeError::PlainRefused
        );
    }

    #[test]
    fn refuses_a_missing_method_which_defaults_to_plain() {
        assert_eq!(
            CodeChallenge::from_request(APPENDIX_B_CHALLENGE, None, &secure()).unwrap_err(),
            ChallengeError::MethodMissing
        );
    }

    #[test]
    fn accepts_plain_only_when_the_insecure_switch_is_on() {
        let insecure = ChallengePolicy {
            allow_insecure_plain: true,
        };
        let c = CodeChallenge::from_request(APPENDIX_B_VERIFIER, Some("plain"), &insecure).unwrap();
        assert_eq!(c.method(), Method::Plain);
        assert!(c.verify(&CodeVerifier::parse(APPENDIX_B_VERIFIER).unwrap()));
        let absent = CodeChallenge::from_request(APPENDIX_B_VERIFIER, None, &insecure).unwrap();
        assert_eq!(absent.method(), Method::Plain);
    }

    #[test]
    fn plain_challenge_is_not_printed_by_debug() {
        let insecure = ChallengePolicy {
            allow_insecure_plain: true,
        };
        let c = CodeChallenge::from_request(APPENDIX_B_VERIFIER, Some("plain"), &insecure).unwrap();
        assert!(!format!("{c:?}").contains(APPENDIX_B_VERIFIER));
    }

    #[test]
    fn refuses_unknown_methods_and_wrong_case() {
        for m in ["s256", "SHA256", "S512", ""] {
            assert_eq!(
                CodeChallenge::from_request(APPENDIX_B_CHALLENGE, Some(m), &secure()).unwrap_err(),
                ChallengeError::UnknownMethod(m.to_owned())
            );
        }
    }

    #[test]
    fn refuses_an_s256_challenge_of_the_wrong_length() {
        for len in [0, 42, 44, 128] {
            assert_eq!(
                CodeChallenge::parse(&"A".repeat(len), Method::S256).unwrap_err(),
                ChallengeError::S256WrongLength { len }
            );
        }
    }

    #[test]
    fn refuses_an_s256_challenge_outside_the_base64url_alphabet() {
        // Standard base64 characters, and a verifier-legal '.' and '~'.
        for bad in ['+', '/', '=', '.', '~', ' '] {
            let c = format!("{}{bad}", &APPENDIX_B_CHALLENGE[..42]);
            assert_eq!(
                CodeChallenge::parse(&c, Method::S256).unwrap_err(),
                ChallengeError::S256NotBase64url,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_a_non_canonical_s256_challenge() {
        // The last of 43 characters carries 4 bits; 'N' (0b001101) sets bits
        // that a 32-octet digest leaves zero.
        let c = format!("{}N", &APPENDIX_B_CHALLENGE[..42]);
        assert_eq!(
            CodeChallenge::parse(&c, Method::S256).unwrap_err(),
            ChallengeError::S256NotBase64url
        );
    }

    #[test]
    fn round_trips_through_its_wire_form() {
        let c = CodeChallenge::parse(APPENDIX_B_CHALLENGE, Method::S256).unwrap();
        assert_eq!(c.as_str(), APPENDIX_B_CHALLENGE);
        assert_eq!(Method::parse("S256").unwrap().as_str(), "S256");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Generate from any entropy, derive, and verify: the round trip holds.
        #[test]
        fn generated_pairs_verify(entropy in proptest::collection::vec(any::<u8>(), 32..=96)) {
            let v = CodeVerifier::from_entropy(&entropy).unwrap();
            prop_assert!((43..=128).contains(&v.secret().len()));
            let wire = CodeChallenge::s256(&v).as_str();
            let stored = CodeChallenge::from_request(&wire, Some("S256"), &ChallengePolicy::default()).unwrap();
            prop_assert!(stored.verify(&CodeVerifier::parse(v.secret()).unwrap()));
        }

        /// Any other valid verifier fails against the challenge.
        #[test]
        fn any_other_verifier_fails(
            a in "[A-Za-z0-9._~-]{43,128}",
            b in "[A-Za-z0-9._~-]{43,128}",
        ) {
            prop_assume!(a != b);
            let challenge = CodeChallenge::s256(&CodeVerifier::parse(&a).unwrap());
            prop_assert!(!challenge.verify(&CodeVerifier::parse(&b).unwrap()));
        }

        /// The ABNF check accepts exactly the §4.1 language.
        #[test]
        fn parse_accepts_exactly_the_abnf(s in prop_oneof![
            "[A-Za-z0-9._~-]{30,140}",
            "[A-Za-z0-9._~+/= é-]{30,140}",
            ".{0,140}",
        ]) {
            let in_language = (43..=128).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            prop_assert_eq!(CodeVerifier::parse(&s).is_ok(), in_language);
        }
    }
}
