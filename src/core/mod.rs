//! The domain core: catalog, discovery, accounts, tenancy, idempotency and the ports it needs.
//!
//! **No IO here**: core never imports sqlx, axum, rmcp or reqwest and knows no wire format. It
//! talks to the database only through the [`ports::Store`] trait and reads time from
//! [`ports::Clock`]. Reading order: `catalog`, `tenancy`, `discovery` + `ranking`, `accounts`,
//! `idempotency`, `capabilities`, `ports`, `error`.

pub mod accounts;
pub mod approval;
pub mod auth;
pub mod avails;
pub mod booking;
pub mod buying;
pub mod capabilities;
pub mod catalog;
pub mod creative;
pub mod creatives;
pub mod delivery;
pub mod discovery;
pub mod error;
pub mod feedback;
pub mod idempotency;
pub mod macros;
pub mod media_buy;
pub mod notify;
pub mod pagination;
pub mod ports;
pub mod proposals;
pub mod ranking;
pub mod reconcile;
pub mod reporting;
pub mod sandbox;
pub mod schedule;
pub mod seed;
pub mod seed_assets;
pub mod tasks;
pub mod tenancy;
pub mod webhook;

pub use error::{Error, StoreError};
pub use ports::Store;
