//! What became of one card: the per-row result that the pool produces, the journal keeps and
//! the writer turns into the added output columns.

use std::fmt;

/// The `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Invalid,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Invalid => "invalid",
            Status::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "ok" => Some(Status::Ok),
            "invalid" => Some(Status::Invalid),
            "error" => Some(Status::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The six vendor flags in output order.
pub use crate::vendor::FLAG_NAMES;

/// The six flags packed into the low bits of a byte, bit `i` for `FLAG_NAMES[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(pub u8);

impl Flags {
    pub fn get(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    pub fn is_hit(self) -> bool {
        self.0 & 0b11_1111 != 0
    }

    pub fn from_bools(bits: [bool; 6]) -> Flags {
        Flags(
            bits.iter()
                .enumerate()
                .fold(0, |acc, (i, &on)| acc | (u8::from(on) << i)),
        )
    }
}

/// The result of one row, as written to the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// Meaningful only when `status` is `Ok`.
    pub flags: Flags,
    pub orderid: String,
    /// The vendor's code for a failed row; `None` for success, local and transport failures.
    pub error_code: Option<i64>,
    pub error: String,
    pub attempts: u32,
    /// Why a row is invalid or failed, as a stable key for the summary (`too_few_digits`,
    /// `vendor_rejected`, `271901`, `transport`, …). Not written to the output.
    pub reason: &'static str,
}

impl Outcome {
    pub fn ok(flags: Flags, orderid: String, attempts: u32) -> Outcome {
        Outcome {
            status: Status::Ok,
            flags,
            orderid,
            error_code: None,
            error: String::new(),
            attempts,
            reason: "",
        }
    }

    pub fn invalid(reason: &'static str, error: String) -> Outcome {
        Outcome {
            status: Status::Invalid,
            flags: Flags::default(),
            orderid: String::new(),
            error_code: None,
            error,
            attempts: 0,
            reason,
        }
    }

    pub fn is_hit(&self) -> bool {
        self.status == Status::Ok && self.flags.is_hit()
    }
}

/// Every `reason` key the program produces, so that one read back from the journal becomes the
/// same `&'static str` again.
pub const REASONS: [&str; 10] = [
    "empty",
    "scientific_notation",
    "float_tail",
    "not_digits",
    "too_few_digits",
    "too_many_digits",
    "luhn_failed",
    "vendor_rejected",
    "missing_column",
    "not_text",
];

pub fn intern_reason(text: &str) -> &'static str {
    REASONS.iter().find(|r| **r == text).copied().unwrap_or("")
}
