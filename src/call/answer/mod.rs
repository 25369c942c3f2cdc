//! The vendor's answer: what one call produced (`reply`), and how its JSON is read (`parse`,
//! with the strict `quick` read of a success before the tolerant one).

mod parse;
mod quick;
mod reply;

pub(crate) use parse::parse_answer;
pub(crate) use reply::{Reply, TransportFailure};
// What a test of `classify` builds a reply from.
#[cfg(test)]
pub(crate) use reply::Answer;
