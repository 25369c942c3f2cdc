//! What every output has: the columns SPEC §3 adds, and the key the simulator takes.

pub const BIN: &str = env!("CARGO_BIN_EXE_cardscreen");
pub const KEY: &str = "test-key-5f2e9c";

/// The columns SPEC §3 adds after the input's, in order.
pub const ADDED: [&str; 12] = [
    "status",
    "hit",
    "onlineBlack",
    "offlineBlack",
    "badCardHolder",
    "fraudTrans",
    "otherBlack",
    "caseRelated",
    "orderid",
    "error_code",
    "error",
    "attempts",
];

/// Where the six flags sit in `ADDED`: the vendor's answer names them the same way.
pub const FLAGS: std::ops::Range<usize> = 2..8;

/// The header line of an output: the input's names, then `ADDED`.
pub fn header_line(input: &[&str], delimiter: char) -> String {
    let names: Vec<&str> = input.iter().chain(&ADDED).copied().collect();
    format!("{}\n", names.join(&delimiter.to_string()))
}
