//! `code_challenge_method` (RFC 7636 §4.2, §4.3) and the server's policy on it.

use std::fmt;

use crate::ChallengeError;

/// A code challenge method (RFC 7636 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `S256`: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`. Mandatory to
    /// implement (§4.2) and the only method accepted by default.
    S256,
    /// `plain`: the challenge is the verifier. Offers no protection against an
    /// attacker who can read the authorization request (RFC 9700 §2.1.1), so
    /// it is refused unless [`ChallengePolicy::allow_insecure_plain`] is set.
    Plain,
}

impl Method {
    /// The registered name, as sent in `code_challenge_method`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::S256 => "S256",
            Method::Plain => "plain",
        }
    }

    /// Recognises a registered method name. Names are case-sensitive (§4.3:
    /// the values are `S256` and `plain`).
    pub fn parse(name: &str) -> Result<Self, ChallengeError> {
        match name {
            "S256" => Ok(Method::S256),
            "plain" => Ok(Method::Plain),
            other => Err(ChallengeError::UnknownMethod(other.to_owned())),
        }
    }

    /// The method of an authorization request under `policy`.
    ///
    /// §4.3: when `code_challenge_method` is absent the method defaults to
    /// `plain`, so a missing method is refused like `plain` unless the policy
    /// allows it; `plain` itself gets [`ChallengeError::PlainRefused`].
    pub fn from_request(
        name: Option<&str>,
        policy: &ChallengePolicy,
    ) -> Result<Self, ChallengeError> {
        let method = match name {
            None => {
                if policy.allow_insecure_plain {
                    return Ok(Method::Plain);
                }
                return Err(ChallengeError::MethodMissing);
            }
            Some(name) => Method::parse(name)?,
        };
        if method == Method::Plain && !policy.allow_insecure_plain {
            return Err(ChallengeError::PlainRefused);
        }
        Ok(method)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an authorization server accepts. The default is the secure one:
/// `S256` only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChallengePolicy {
    /// Accept `code_challenge_method=plain` (and a missing method, which §4.3
    /// defaults to `plain`). Off by default; OAuth 2.1 and RFC 9700 §2.1.1
    /// advise against it. Exists only for legacy clients that cannot hash.
    pub allow_insecure_plain: bool,
}
