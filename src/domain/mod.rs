//! Domain types and rules, free of I/O.

pub mod ids;
pub mod lease;
pub mod ledger;
pub mod limits;

pub use ids::{DeviceId, DeviceName, DeviceNameError, IdError, LeaseId, StreamId, UserId};
pub use lease::*;
pub use ledger::Ledger;
pub use limits::{ClassDefault, ClassLimit, ClassName, Classes, LimitClass, Limits, UserLimits};
