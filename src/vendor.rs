//! The vendor's wire protocol, shared by the client and the simulator: where to call, the
//! names of the fields and flags, and the error codes.

/// The vendor's endpoint; HTTPS because card numbers must not cross the internet in clear text.
pub const DEFAULT_ENDPOINT: &str = "https://apis.juhe.cn/bankcardblack/query";

/// The path of the query on the vendor's host.
pub const QUERY_PATH: &str = "/bankcardblack/query";

/// The six vendor flags in output order.
pub const FLAG_NAMES: [&str; 6] = [
    "onlineBlack",
    "offlineBlack",
    "badCardHolder",
    "fraudTrans",
    "otherBlack",
    "caseRelated",
];

/// "当前IP请求超过限制": calls come faster than the key allows.
pub const RATE_LIMITED: i64 = 10011;
