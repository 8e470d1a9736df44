//! proofkey's protocol engine: it decides, the HTTP layer translates.
//!
//! [`Provider`] is the context: the configuration, the [`Store`], the
//! [`Clock`] and the components built on them ([`keyring::KeyRing`],
//! [`clients::ClientRegistry`], [`issuer::TokenIssuer`]). Each endpoint's
//! logic is a module of its own that takes the provider:
//! [`authorize`] and [`authorization`] (RFC 6749 §4.1.1, RFC 7636 §4.3,
//! OIDC Core §3.1.2), [`grant`] (the token endpoint, one module per grant
//! type), [`revocation`] (RFC 7009, RFC 7662), [`device`] (RFC 8628),
//! [`userinfo`] (OIDC Core §5.3), [`logout`], [`session`], and discovery
//! (RFC 8414, OIDC Discovery 1.0).
//!
//! **Invariant:** no HTTP framework, no SQL, no sockets here; storage is
//! reached only through the [`Store`] trait, time only through [`Clock`].

pub mod authorization;
pub mod authorize;
pub mod cimd;
pub mod client_auth;
pub mod clients;
pub mod clock;
pub mod config;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod grant;
pub mod issuer;
pub mod kek;
pub mod keyring;
pub mod keys;
pub mod logout;
pub mod model;
pub mod par;
pub mod password;
pub mod provider;
pub mod redirect_uri;
pub mod registration;
pub mod resource;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod session;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod userinfo;

pub use authorization::Next;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use error::{ErrorCode, OAuthError};
pub use keyring::StartError;
pub use provider::{secret_hasher, Provider};
pub use store::{Store, StoreError};
