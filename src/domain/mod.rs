//! Domain types and rules, free of I/O.

pub mod classes;
pub mod ids;
pub mod lease;
pub mod ledger;

pub use classes::{ClassDefault, ClassLimit, ClassName, Classes, LimitClass, Limits, UserLimits};
pub use ids::{DeviceId, DeviceName, DeviceNameError, IdError, LeaseId, StreamId, UserId};
pub use lease::*;
pub use ledger::Ledger;
