//! proofkey's protocol engine: it decides, the HTTP layer translates.
//!
//! [`Provider`] holds the configuration, the [`Store`], the [`Clock`] and the
//! signing keys, and implements each endpoint's logic:
//! [`authorize`] (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2),
//! [`grant::authorization_code`] (RFC 6749 §4.1.3, RFC 7636 §4.6),
//! userinfo (OIDC Core §5.3) and discovery (RFC 8414, OIDC Discovery 1.0).
//!
//! **Invariant:** no HTTP framework, no SQL, no sockets here; storage is
//! reached only through the [`Store`] trait, time only through [`Clock`].

pub mod authorize;
pub mod client_auth;
pub mod clock;
pub mod config;
pub mod device;
pub mod discovery;
pub mod error;
pub mod grant;
pub mod keys;
pub mod logout;
pub mod model;
pub mod password;
pub mod provider;
pub mod redirect_uri;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod store;
pub mod tokens;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use error::{ErrorCode, OAuthError};
pub use provider::{secret_hasher, Next, Provider, StartError};
pub use store::{Store, StoreError};
