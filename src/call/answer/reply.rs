//! What one HTTP call produced: the vendor's answer as read, or the transport failure that
//! stood in for it.

use crate::outcome::Flags;

/// What one HTTP call produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// The vendor answered with its JSON envelope.
    Answer(Answer),
    /// Anything else: non-200 status, a body that is not the vendor JSON, reset, timeout.
    Transport(TransportFailure),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub(crate) error_code: i64,
    /// The vendor's words, kept for answers other than success: nothing reads a success's.
    pub(crate) reason: String,
    /// Present when `error_code` is 0 and the result held all six flags.
    pub(crate) flags: Option<Flags>,
    pub(crate) orderid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransportFailure {
    Status(u16),
    /// A 3xx answer, never followed, and the host its `Location` names.
    Redirect {
        status: u16,
        to: String,
    },
    BadBody(String),
    Timeout,
    Connection(String),
    /// More than `MAX_ANSWER` bytes: reading stopped there.
    TooLarge,
    /// The server's TLS certificate is not trusted here: every call would fail alike.
    UntrustedCertificate {
        host: String,
        why: String,
    },
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportFailure::Status(code) => write!(f, "HTTP status {code}"),
            TransportFailure::Redirect { status, to } => {
                write!(f, "HTTP status {status}, a redirect to {to} (not followed)")
            }
            TransportFailure::BadBody(why) => write!(f, "unreadable answer ({why})"),
            TransportFailure::Timeout => write!(f, "no answer within the timeout"),
            TransportFailure::Connection(why) => write!(f, "connection failed ({why})"),
            TransportFailure::TooLarge => write!(f, "answer larger than 64 KiB"),
            TransportFailure::UntrustedCertificate { host, why } => {
                write!(f, "the TLS certificate of {host} is not trusted ({why})")
            }
        }
    }
}
