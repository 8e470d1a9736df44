//! The storage contract, one trait per aggregate; backends live in
//! `proofkey-store`, and every backend must pass the same contract tests
//! (`crates/store/tests/store_contract.rs`).
//!
//! Each method's doc comment states its invariant, as fosite's storage
//! interfaces do. The ones that matter most are in [`GrantStore`]: a
//! grant is a row; every issuance is one transaction that consumes (or
//! rotates) what was presented, checks that the grant is live, and stores
//! every new record, or does nothing at all; and revoking a grant ends
//! everything issued under it, including what an issuance in flight is
//! about to store.

mod clients;
mod device;
mod grants;
mod keys;
mod maintenance;
mod users;

pub use clients::{ClientStore, ResourceStore};
pub use device::DeviceStore;
pub use grants::GrantStore;
pub use keys::KeyStore;
pub use maintenance::Maintenance;
pub use users::UserStore;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with that key exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// The database cannot be reached, or is overloaded; callers answer 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Refused at once, without trying: the database is known to be
    /// unreachable or failing writes (the store's health probe says so,
    /// and will say when it recovers). Callers answer 503 with
    /// `Retry-After`, as for `Unavailable`, but need not log each one.
    #[error("database unavailable: {0}")]
    Refused(String),
    /// Anything else the backend reports.
    #[error("database error: {0}")]
    Backend(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the provider persists: every aggregate's trait. Implemented
/// for any type that implements them all.
pub trait Store:
    ClientStore
    + ResourceStore
    + UserStore
    + GrantStore
    + DeviceStore
    + KeyStore
    + Maintenance
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: ClientStore
        + ResourceStore
        + UserStore
        + GrantStore
        + DeviceStore
        + KeyStore
        + Maintenance
        + std::fmt::Debug
{
}
