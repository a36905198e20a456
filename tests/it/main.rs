//! Integration tests, one binary (link once): store conformance on both backends, the
//! architecture rules, the published tool schemas, and the HTTP/MCP surface of `run()`.

mod approvals;
mod architecture;
mod booking;
mod delivery;
mod discovery;
mod gam;
mod golden;
mod kevel;
mod lifecycle;
mod proposals;
mod reporting;
mod server;
mod store;
mod support;
mod triton;
mod webhooks;
