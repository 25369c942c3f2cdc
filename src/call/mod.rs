//! The call stage: a pool of `--concurrency` workers, each taking one card at a time, paced by
//! the `pacer`, calling through the `client`, and deciding after every answer with `retry`
//! whether the card is done, must wait and call again, or stops the run.

mod client;
mod pacer;
mod pool;
mod quick;
mod retry;
mod tls;

pub(crate) use client::{is_cleartext_remote, Client, ClientError, ClientOptions};
pub(crate) use pacer::{Pacer, PacerOptions};
pub(crate) use pool::{Finished, Job, Pool, PoolOptions};
pub(crate) use retry::{Backoff, RetryPolicy};
pub(crate) use tls::Trust;
