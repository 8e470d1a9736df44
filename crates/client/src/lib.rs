//! The PKCE authorization code flow for command-line tools and native apps,
//! done so that it is hard to get wrong.
//!
//! * [`discovery`]: OIDC Discovery, falling back to RFC 8414, with the
//!   issuer checked (mix-up defence).
//! * [`authorize::PendingAuthorization`]: always PKCE S256 with a fresh
//!   32-byte verifier from the OS CSPRNG, random `state` and `nonce`; the
//!   callback is checked here, not left to the caller: `state` in constant
//!   time, `iss` when the server supports RFC 9207.
//! * [`loopback::LoopbackReceiver`]: RFC 8252 §7.3 redirect on 127.0.0.1 or
//!   [::1], ephemeral port, exactly one callback, a timeout.
//! * [`device`]: the RFC 8628 device grant, honouring `interval` and
//!   `slow_down`.
//! * [`id_token`]: signature against the JWKS, `iss`, `aud`, `exp`,
//!   `nonce`, `at_hash`.
//! * [`config`]: profiles set up from a file a team can ship.
//! * [`cache`]: tokens per profile in a 0600 file, written atomically under
//!   a lock, refreshed once however many processes ask at the same time.
//!
//! **Invariant:** the verifier never leaves [`authorize::PendingAuthorization`]
//! except on its way to the token endpoint; it cannot be cloned or logged.

pub mod authorize;
pub mod cache;
pub mod config;
pub mod device;
pub mod discovery;
mod error;
pub mod id_token;
pub mod loopback;
pub mod token;

pub use error::ClientError;

/// A random URL-safe value of 256 bits (for `state` and `nonce`).
pub(crate) fn random_value() -> Result<String, ClientError> {
    proofkey_core::secret::random_token(32).map_err(|e| ClientError::Random(e.to_string()))
}

/// The HTTP client the library uses: no redirects followed (a redirect at a
/// token endpoint is an attack or a misconfiguration), a timeout, rustls.
pub fn http_client() -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("proofkey/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError::Http(e.to_string()))
}
