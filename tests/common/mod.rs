//! Shared test harness: the real `cardscreen` binary, a real simulator process on a loopback
//! port, helpers to read outputs and simulator counters back, and `Screen`, one run as a test
//! states it.

mod builder;
mod columns;
mod files;
mod process;
mod sim;

pub use builder::*;
pub use columns::*;
pub use files::*;
pub use process::*;
pub use sim::*;
