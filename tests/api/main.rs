//! The API test suite: the real service over real HTTP, on the embedded store
//! and on a real redis-server (started per test; see `redis_server.rs`).

mod certificates;
mod helpers;
mod js_client;
mod redis_cluster;
mod redis_server;

mod acquire;
mod auth;
mod browser;
mod caching;
mod census;
mod cli;
mod clock_steps;
mod cluster;
mod connections;
mod cors;
mod differential;
mod errors;
mod expiry;
mod fail_open;
mod health;
mod heartbeat;
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
