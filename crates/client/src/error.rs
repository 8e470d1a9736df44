//! Errors that say what went wrong and what to do.

use std::time::Duration;

/// A client-side failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The network or HTTP failed.
    #[error("HTTP request failed: {0}")]
    Http(String),
    /// Neither discovery document could be read.
    #[error("cannot discover {issuer}: {reason}. Check the issuer URL (it is the server's base URL, e.g. https://auth.example.com)")]
    Discovery {
        /// The issuer asked for.
        issuer: String,
        /// What failed.
        reason: String,
    },
    /// The metadata names another issuer (RFC 8414 §3.3).
    #[error("the server at {asked} says its issuer is {got}; refusing (mix-up defence, RFC 8414 §3.3). Use --issuer {got} if that is the server you mean")]
    IssuerMismatch {
        /// The issuer asked for.
        asked: String,
        /// What the metadata says.
        got: String,
    },
    /// The callback's `state` is not ours: a forged or stale redirect.
    #[error("the authorization response has the wrong state; it was not a response to this login (possible CSRF). Start the login again")]
    StateMismatch,
    /// RFC 9207 `iss` missing or wrong.
    #[error("the authorization response came from issuer {got:?}, not {expected}; refusing (mix-up defence, RFC 9207)")]
    IssMismatch {
        /// Our issuer.
        expected: String,
        /// What the response said.
        got: Option<String>,
    },
    /// The server answered the authorization request with an error.
    #[error("the authorization server refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Authorization {
        /// `error`.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// The callback had no code.
    #[error("the authorization response has no code")]
    NoCode,
    /// Nobody came back in time.
    #[error("no authorization response within {}s; run the login again (or use --device on a machine without a browser)", .0.as_secs())]
    Timeout(Duration),
    /// The loopback listener failed.
    #[error("cannot listen for the redirect on {addr}: {reason}")]
    Listen {
        /// Where.
        addr: String,
        /// Why.
        reason: String,
    },
    /// An OAuth error from the token or device endpoint.
    #[error("{endpoint} refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        /// Which endpoint.
        endpoint: &'static str,
        /// `error`.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// The server does not offer what is needed.
    #[error("the server does not support {0}")]
    Unsupported(&'static str),
    /// The ID token failed validation.
    #[error("the ID token is invalid: {0}")]
    IdToken(String),
    /// The OS keyring failed (`--store keyring`); there is no fallback.
    #[error("OS keyring: {0}. The tokens were not stored in a file instead; use --store file (the default) where there is no keyring")]
    Keyring(String),
    /// The token cache failed.
    #[error("token cache: {0}")]
    Cache(String),
    /// No usable tokens: a login is needed.
    #[error("{0}")]
    LoginRequired(String),
    /// The OS random number generator failed.
    #[error("random number generator: {0}")]
    Random(String),
    /// A DPoP key could not be made, read or used.
    #[error("DPoP key: {0}")]
    Dpop(String),
    /// The profiles file (`config.toml`) cannot be used.
    #[error("profiles file {0}")]
    Config(String),
    /// A pasted redirect URL could not be read.
    #[error("that is not the redirect URL: {0}")]
    Paste(String),
}

impl ClientError {
    /// What the person at the browser is told when a login ends with this
    /// error (the loopback page): a title and a sentence in plain words.
    /// The error itself is shown apart, as technical detail.
    pub fn for_end_user(&self) -> (&'static str, &'static str) {
        const NOT_COMPLETED: &str = "The sign-in could not be completed";
        match self {
            // RFC 6749 §4.1.2.1: the user (or the server for them) said no.
            ClientError::Authorization { error, .. } if error == "access_denied" => (
                "Access was denied",
                "The sign-in was cancelled or access was not allowed, so proofkey is not signed in. If that was not your choice, run the login again.",
            ),
            ClientError::Authorization { error, .. } if error == "temporarily_unavailable" => (
                NOT_COMPLETED,
                "The sign-in service is busy at the moment. Wait a little, then run the login again.",
            ),
            ClientError::Authorization { .. } => (
                NOT_COMPLETED,
                "The sign-in service refused the request. Run the login again; if it keeps failing, ask whoever runs the service.",
            ),
            ClientError::StateMismatch => (
                NOT_COMPLETED,
                "This response does not belong to the sign-in proofkey is waiting for (it may come from an earlier attempt, or from someone else). For your safety it was refused. Run the login again.",
            ),
            ClientError::IssMismatch { .. } => (
                NOT_COMPLETED,
                "This response came from a different sign-in service than the one proofkey asked. For your safety it was refused. Run the login again.",
            ),
            ClientError::NoCode => (
                NOT_COMPLETED,
                "The sign-in service's response was incomplete. Run the login again.",
            ),
            ClientError::OAuth { .. } | ClientError::Http(_) => (
                NOT_COMPLETED,
                "You signed in, but proofkey could not obtain access from the sign-in service afterwards. Run the login again.",
            ),
            ClientError::IdToken(_) => (
                NOT_COMPLETED,
                "The sign-in service's answer could not be verified, so it was not trusted. Run the login again; if it keeps failing, ask whoever runs the service.",
            ),
            ClientError::Keyring(_) | ClientError::Cache(_) => (
                NOT_COMPLETED,
                "You signed in, but proofkey could not save the result on this computer. The terminal says why.",
            ),
            _ => (
                NOT_COMPLETED,
                "Something went wrong while finishing the sign-in. The terminal says what.",
            ),
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Http(e.to_string())
    }
}
