//! Every check the audit makes: a stable id, the severity of a finding, the
//! spec clause, what a finding means and how to fix it.
//!
//! **Invariant:** ids never change meaning; reports, SARIF rules and users'
//! suppressions refer to them. A new check gets a new id.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Interoperability or hardening; no attack follows from it alone.
    Low,
    /// Weakens a defence; an attack needs something else to go wrong too.
    Medium,
    /// A defence the specs require is missing: codes or tokens can be
    /// stolen or replayed.
    High,
}

impl Severity {
    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// Parses `low`, `medium` or `high`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }
}

/// One check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// Stable id, `area.what-was-found`.
    pub id: &'static str,
    /// What a finding of this check means, in one line.
    pub title: &'static str,
    /// Severity of a finding.
    pub severity: Severity,
    /// The spec clauses it enforces.
    pub spec: &'static str,
    /// How to fix a finding.
    pub fix: &'static str,
}

macro_rules! checks {
    ($( $konst:ident = $id:literal, $sev:ident, $spec:literal, $title:literal, $fix:literal; )*) => {
        $(
            #[doc = $title]
            pub const $konst: Check = Check {
                id: $id,
                title: $title,
                severity: Severity::$sev,
                spec: $spec,
                fix: $fix,
            };
        )*
        /// All checks, in the order reports list them.
        pub const ALL: &[Check] = &[$($konst),*];
    };
}

checks! {
    S256_NOT_ADVERTISED = "discovery.s256-not-advertised", Medium,
        "RFC 8414 §2; RFC 7636 §4.2",
        "S256 is not listed in code_challenge_methods_supported",
        "Support PKCE with S256 and list it in code_challenge_methods_supported, so that clients can see PKCE is enforced.";
    PLAIN_ADVERTISED = "discovery.plain-advertised", Medium,
        "RFC 9700 §2.1.1; OAuth 2.1 §4.1.1",
        "The plain code_challenge_method is advertised",
        "Remove plain: its challenge is the verifier itself, so whoever sees the authorization request can redeem the code.";
    ISS_NOT_ADVERTISED = "discovery.iss-parameter-not-advertised", Low,
        "RFC 9207 §3; RFC 9700 §4.4.2",
        "authorization_response_iss_parameter_supported is not true",
        "Send iss in every authorization response and advertise authorization_response_iss_parameter_supported: true, so that clients can detect mix-up attacks.";
    IMPLICIT_GRANT = "discovery.implicit-grant", Medium,
        "RFC 9700 §2.1.2; OAuth 2.1 §10.1",
        "The implicit grant is offered (an access token straight from the authorization endpoint)",
        "Remove response types containing token and the implicit grant type; use the code flow with PKCE.";
    PASSWORD_GRANT = "discovery.password-grant", Medium,
        "RFC 9700 §2.4; OAuth 2.1 §10.4",
        "The resource owner password credentials grant is offered",
        "Remove the password grant type; use the code flow with PKCE (or the device grant for input-constrained devices).";
    ISSUER_MISMATCH = "discovery.issuer-mismatch", High,
        "RFC 8414 §3.3; OpenID Connect Discovery §4.3",
        "The discovery document's issuer is not the issuer it was fetched for",
        "Serve an issuer value identical to the URL clients use; clients must reject the document otherwise.";
    JWKS_PRIVATE_KEY = "discovery.jwks-private-key", High,
        "RFC 7517 §5; RFC 7518 §6.2.2, §6.3.2, §6.4",
        "The JWKS publishes private or symmetric key material",
        "Publish public key members only (no d, p, q, dp, dq, qi, oth or k), and replace the exposed keys at once: anyone can sign tokens with them.";
    ISSUER_NOT_HTTPS = "discovery.issuer-not-https", High,
        "RFC 8414 §2; OpenID Connect Discovery §3",
        "The issuer is not an https URL",
        "Serve the authorization server over https; only loopback addresses may use http, for development.";
    CHALLENGE_MISSING_ACCEPTED = "authorize.challenge-missing-accepted", High,
        "OAuth 2.1 §4.1.1; RFC 9700 §2.1.1; RFC 7636 §4.4.1",
        "A code was issued for an authorization request without code_challenge",
        "Require code_challenge on every authorization request and answer its absence with error=invalid_request.";
    PLAIN_ACCEPTED = "authorize.plain-accepted", Medium,
        "RFC 9700 §2.1.1; OAuth 2.1 §4.1.1",
        "A code was issued for code_challenge_method=plain",
        "Accept S256 only; answer plain with error=invalid_request.";
    UNKNOWN_METHOD_ACCEPTED = "authorize.unknown-method-accepted", Medium,
        "RFC 7636 §4.3, §4.4.1",
        "A code was issued for an unknown code_challenge_method",
        "Refuse methods other than S256 with error=invalid_request, rather than ignoring the method or guessing one.";
    CHALLENGE_TOO_SHORT_ACCEPTED = "authorize.challenge-too-short-accepted", Low,
        "RFC 7636 §4.2, §4.4.1",
        "A code was issued for a code_challenge too short to be an S256 hash",
        "Check the challenge's syntax: an S256 challenge is exactly 43 base64url characters.";
    CHALLENGE_BAD_CHARS_ACCEPTED = "authorize.challenge-bad-chars-accepted", Low,
        "RFC 7636 §4.2, §4.4.1",
        "A code was issued for a code_challenge with characters outside base64url (+ and /)",
        "Check the challenge's syntax: base64url without padding, never standard base64.";
    STATE_NOT_ECHOED = "response.state-not-echoed", High,
        "RFC 6749 §4.1.2",
        "The authorization response does not return the request's state unchanged",
        "Return state exactly as received, in success and error responses.";
    ISS_MISSING = "response.iss-missing", Medium,
        "RFC 9207 §2; RFC 9700 §4.4.2",
        "The authorization response carries no iss parameter",
        "Add iss (the issuer identifier) to every authorization response, success or error.";
    ISS_WRONG = "response.iss-wrong", High,
        "RFC 9207 §2, §2.4",
        "The authorization response's iss is not the issuer",
        "Send the exact issuer identifier from the discovery document in iss.";
    LOOPBACK_PORT_REFUSED = "redirect.loopback-port-refused", Low,
        "RFC 8252 §7.3; OAuth 2.1 §8.4.2",
        "A loopback redirect URI on another port was refused",
        "For loopback redirect URIs (127.0.0.1, [::1]) compare everything but the port: native apps listen on ephemeral ports.";
    VERIFIER_MISSING_ACCEPTED = "token.verifier-missing-accepted", High,
        "RFC 7636 §4.5, §4.6; OAuth 2.1 §4.1.3",
        "A code issued with code_challenge was redeemed without code_verifier",
        "When the code carries a challenge, require code_verifier and answer its absence with invalid_grant.";
    VERIFIER_WRONG_ACCEPTED = "token.verifier-wrong-accepted", High,
        "RFC 7636 §4.6",
        "A code was redeemed with a code_verifier that does not match its challenge",
        "Compute BASE64URL(SHA256(code_verifier)), compare it with the stored challenge in constant time, and answer a mismatch with invalid_grant.";
    VERIFIER_TOO_SHORT_ACCEPTED = "token.verifier-too-short-accepted", Medium,
        "RFC 7636 §4.1",
        "A code_verifier of 42 characters (the minimum is 43) was accepted",
        "Check code_verifier against its ABNF (43 to 128 unreserved characters) before comparing; answer invalid_grant.";
    VERIFIER_TOO_LONG_ACCEPTED = "token.verifier-too-long-accepted", Medium,
        "RFC 7636 §4.1",
        "A code_verifier of 129 characters (the maximum is 128) was accepted",
        "Check code_verifier against its ABNF (43 to 128 unreserved characters) before comparing; answer invalid_grant.";
    VERIFIER_BAD_CHARS_ACCEPTED = "token.verifier-bad-chars-accepted", Medium,
        "RFC 7636 §4.1",
        "A code_verifier with characters outside [A-Za-z0-9-._~] was accepted",
        "Check code_verifier against its ABNF (43 to 128 unreserved characters) before comparing; answer invalid_grant.";
    PKCE_ERROR_CODE = "token.pkce-error-code", Low,
        "RFC 7636 §4.6; RFC 6749 §5.2",
        "A PKCE failure at the token endpoint was refused with another error than invalid_grant",
        "Answer every code_verifier failure (missing, wrong, malformed) with HTTP 400 and error=invalid_grant.";
    DOWNGRADE_ACCEPTED = "token.downgrade-accepted", High,
        "RFC 9700 §2.1.1, §4.8.2",
        "A code issued without code_challenge was redeemed with a code_verifier (PKCE downgrade)",
        "Refuse a code_verifier at the token endpoint when the authorization request carried no code_challenge, or better, require the challenge.";
    CODE_REUSE_ACCEPTED = "token.code-reuse-accepted", High,
        "RFC 6749 §4.1.2; OAuth 2.1 §4.1.2, §4.1.3",
        "The same authorization code was redeemed twice",
        "Consume codes atomically on first use; answer later uses with invalid_grant.";
    CODE_REUSE_NOT_REVOKED = "token.code-reuse-tokens-not-revoked", Medium,
        "RFC 6749 §4.1.2; OAuth 2.1 §4.1.2",
        "After a second redemption of a code, the tokens from the first still work",
        "On a second use of a code, revoke the tokens already issued from it: one of the two redeemers is an attacker.";
    REDIRECT_URI_MISMATCH_ACCEPTED = "token.redirect-uri-mismatch-accepted", Medium,
        "RFC 6749 §4.1.3; OAuth 2.1 §4.1.3",
        "A code was redeemed with a redirect_uri other than the authorization request's",
        "Bind the code to the redirect_uri of its authorization request and refuse a different one with invalid_grant.";
    REFRESH_NOT_ROTATED = "refresh.not-rotated", Medium,
        "OAuth 2.1 §4.3.1; RFC 9700 §4.14.2",
        "A public client's refresh token was not rotated on use",
        "Issue a new refresh token on every refresh for public clients (or sender-constrain them with DPoP).";
    REFRESH_REUSE_ACCEPTED = "refresh.reuse-accepted", High,
        "RFC 9700 §4.14.2; OAuth 2.1 §4.3.1",
        "A rotated (already used) refresh token was accepted again",
        "Invalidate a refresh token when it is rotated, and treat its reuse as theft.";
    REFRESH_FAMILY_NOT_REVOKED = "refresh.family-not-revoked", Medium,
        "RFC 9700 §4.14.2",
        "After a rotated refresh token was reused, the newest token of its family still works",
        "When an old refresh token comes back, revoke the active one of its family: the legitimate client and the thief then both have to sign in again.";
    DPOP_ACCESS_TOKEN_NOT_BOUND = "dpop.access-token-not-bound", Medium,
        "RFC 9449 §5, §6.1",
        "A token request with a DPoP proof got an access token that is not bound to the proof's key",
        "Answer a token request that carries a valid DPoP proof with token_type DPoP, and bind the access token to the proof's key (cnf.jkt in a JWT access token and in introspection).";
    DPOP_REFRESH_WITHOUT_PROOF_ACCEPTED = "dpop.refresh-without-proof-accepted", High,
        "RFC 9449 §5",
        "A public client's DPoP-bound refresh token was accepted without a DPoP proof",
        "Bind a public client's refresh token to the key of the proof sent when it was issued, and refuse a refresh request without a proof by that key (invalid_grant).";
    DPOP_REFRESH_OTHER_KEY_ACCEPTED = "dpop.refresh-other-key-accepted", High,
        "RFC 9449 §5",
        "A public client's DPoP-bound refresh token was accepted with a proof by another key",
        "Compare the thumbprint of the refresh request's proof key with the key the refresh token is bound to, and refuse another key (invalid_grant).";
    DPOP_PROOF_REPLAY_ACCEPTED = "dpop.proof-replay-accepted", Medium,
        "RFC 9449 §11.1, §4.3",
        "The same DPoP proof (same jti) was accepted a second time at the token endpoint",
        "Keep the jti of every accepted proof until its iat leaves the accepted window and refuse it again (invalid_dpop_proof), or demand a fresh server nonce in every proof (RFC 9449 §8).";
    PAR_REQUEST_URI_REUSE_ACCEPTED = "par.request-uri-reuse-accepted", Low,
        "RFC 9126 §4",
        "A pushed request's request_uri yielded a code a second time",
        "Treat request_uri values as one-time use: consume the pushed request when it yields a code.";
    PAR_CHALLENGE_MISSING_ACCEPTED = "par.challenge-missing-accepted", High,
        "RFC 9126 §2.1; OAuth 2.1 §4.1.1; RFC 7636 §4.4.1",
        "A code was issued for a pushed authorization request without code_challenge",
        "Check a pushed request exactly as a request sent to /authorize: require code_challenge, and refuse its absence at the PAR endpoint with HTTP 400 invalid_request.";
    PAR_PLAIN_ACCEPTED = "par.plain-accepted", Medium,
        "RFC 9126 §2.1; RFC 9700 §2.1.1; OAuth 2.1 §4.1.1",
        "A code was issued for a pushed authorization request with code_challenge_method=plain",
        "Check a pushed request exactly as a request sent to /authorize: accept S256 only, and refuse plain at the PAR endpoint with HTTP 400 invalid_request.";
}

/// The check with this id.
pub fn by_id(id: &str) -> Option<&'static Check> {
    ALL.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<_> = ALL.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        for c in ALL {
            let (area, what) = c.id.split_once('.').unwrap_or_default();
            assert!(
                [
                    "discovery",
                    "authorize",
                    "response",
                    "redirect",
                    "token",
                    "refresh",
                    "dpop",
                    "par"
                ]
                .contains(&area),
                "{}",
                c.id
            );
            assert!(what
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            assert!(c.fix.ends_with('.'), "{}", c.id);
        }
    }
}
