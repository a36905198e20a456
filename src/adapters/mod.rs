//! Adapters to the outside world: ad servers (implementations of `core::delivery::AdServer`)
//! and buyers' webhook receivers (`core::notify::Sender`). An adapter talks to its peer and
//! nothing else: it never touches the store and is never called inside a database transaction.

pub mod http;
pub mod kevel;
pub mod mock;
pub mod webhook;
