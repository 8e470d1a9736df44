//! Every store operation, written once for both drivers: one module per
//! aggregate, each implementing its `proofkey_core::store` trait for
//! [`crate::Database`] over any [`crate::tx::Backend`].

mod clients;
mod device;
mod grants;
mod keys;
mod maintenance;
mod users;

use proofkey_core::StoreError;

/// `Conflict` named after what collided.
fn conflict(what: String) -> impl FnOnce(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}
