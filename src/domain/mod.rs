//! Domain types and rules, free of I/O.

pub mod ids;
pub mod lease;
pub mod ledger;

pub use ids::{DeviceId, DeviceName, DeviceNameError, IdError, LeaseId, StreamId, UserId};
pub use lease::*;
pub use ledger::Ledger;
