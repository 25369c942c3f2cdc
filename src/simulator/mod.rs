//! A stand-in for the Juhe bank-card blacklist API: a real HTTP/1.1 server that answers like the
//! vendor, with seeded faults, a rate limit and a quota, and counters (`GET /stats`) that let
//! tests and load runs prove what a client did.

use std::sync::{Mutex, MutexGuard};

mod answers;
mod backend;
mod config;
mod faults;
mod http;
mod query;
mod server;
mod stats;
mod tls;
mod window;

/// The six flags of a successful answer, in the vendor's order (the order of [`flags_for`]).
pub use crate::vendor::FLAG_NAMES;
pub use answers::{flags_for, flags_on};
pub use config::SimulatorConfig;
pub use faults::Faults;
pub(crate) use server::serve_forever;
pub use server::{start, RunningSimulator};
pub use stats::Stats;

/// A panic while a lock was held leaves plain counters behind, still good to use.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
