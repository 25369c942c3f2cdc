//! The journal of received results: every paid answer is appended the moment it arrives, so
//! that a stopped run resumes without paying again (`file`), checked against the run it
//! continues (`fingerprint`), one line a card (`record`).

mod file;
mod fingerprint;
mod record;

pub(crate) use file::{Journal, JournalError};
pub(crate) use fingerprint::{Fingerprint, InputStamp};
