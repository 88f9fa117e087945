//! The API test suite: the real service over real HTTP, on the embedded store
//! and on real redis-servers (see `support/`).

// The fixtures: apps, real Redis servers and clusters, test certificates.
#[path = "support/certificates.rs"]
mod certificates;
#[path = "support/edge.rs"]
mod edge_server;
#[path = "support/helpers.rs"]
mod helpers;
#[path = "support/idp.rs"]
mod idp;
#[path = "support/redis_cluster.rs"]
mod redis_cluster;
#[path = "support/redis_server.rs"]
mod redis_server;

mod js_client;

mod acquire;
mod auth;
mod browser;
mod caching;
mod census;
mod cli;
mod clock_steps;
mod cluster;
mod conformance;
mod connections;
mod cors;
mod differential;
mod docs;
mod edge;
mod errors;
mod expiry;
mod fail_open;
mod health;
mod heartbeat;
mod identity;
mod lease_tokens;
mod limits;
mod metrics;
mod openapi;
mod ops;
mod overload;
mod players;
mod properties;
mod races;
mod redis_store;
mod release;
mod restore;
mod shutdown;
mod store_faults;
mod tls;
mod walkthrough;
