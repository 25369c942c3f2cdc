//! The call stage: a pool of `--concurrency` workers, each taking one card at a time, paced by
//! the `pacer`, calling through the `client`, reading the `answer`, and deciding after every
//! one with `classify` and `retry` whether the card is done, must wait and call again, or stops
//! the run.

mod answer;
mod classify;
mod client;
mod pacer;
mod pool;
mod retry;
mod tls;

pub(crate) use client::{is_cleartext_remote, Client, ClientError, ClientOptions};
pub(crate) use pacer::{Pacer, PacerOptions};
pub(crate) use pool::{Finished, Job, Pool, PoolOptions};
pub(crate) use retry::{Backoff, RetryPolicy};
pub(crate) use tls::Trust;
