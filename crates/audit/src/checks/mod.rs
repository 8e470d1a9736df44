//! The checks, one module per spec area.

pub(crate) mod authorization;
pub mod discovery;
pub(crate) mod dpop;
pub(crate) mod par;
pub(crate) mod refresh;
pub(crate) mod token;
