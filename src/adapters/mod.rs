//! Ad-server adapters: implementations of `core::delivery::AdServer`. An adapter talks to its
//! platform and nothing else: it never touches the store and is never called inside a database
//! transaction.

pub mod mock;
