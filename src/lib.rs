//! streamlease: stops a user from watching more than N video streams at once.
//!
//! Players hold a lease per stream and renew it by heartbeat; a lease nobody
//! renews expires by itself. See README.md, and docs/ for the API and the design.

pub mod census;
pub mod clock;
pub mod config;
pub mod descriptors;
pub mod domain;
pub mod http;
pub mod identity;
pub mod lease_token;
pub mod logging;
pub mod metrics;
pub mod service;
pub mod shedding;
pub mod startup;
pub mod store;
