//! Integration tests: the real server on port 0, real WebSocket clients holding yrs docs,
//! a real SQLite file (and a real PostgreSQL server, which the `postgres` tests start, and a
//! real Redis server, which the `cluster` tests start). One test binary with modules, to keep
//! link time down.

mod support;

mod assets;
mod auth;
mod cluster;
mod convergence;
mod doc_api;
mod durability;
mod history;
mod hostile;
mod http_api;
mod large;
mod limits;
mod load;
mod metrics;
mod postgres;
mod replay;
mod share_links;
mod sync;
mod webhooks;
