//! The Juhe bank-card blacklist API as it speaks on the wire: where to call, which form fields
//! to send, the six flags of an answer and the `error_code` values with the vendor's words.
//! The client and the simulator both speak it from here; `call::classify` says what each means.

/// The path the vendor serves the query on, for GET and POST.
pub const QUERY_PATH: &str = "/bankcardblack/query";

/// The vendor's endpoint; HTTPS because card numbers must not cross the internet in clear text.
pub const DEFAULT_ENDPOINT: &str = "https://apis.juhe.cn/bankcardblack/query";

/// The form field that carries the key.
pub const KEY_FIELD: &str = "key";

/// The form field that carries the card number.
pub const CARD_FIELD: &str = "bankcard";

/// The six flags of a successful answer, in the vendor's order, which is also the output's.
pub const FLAG_NAMES: [&str; 6] = [
    "onlineBlack",
    "offlineBlack",
    "badCardHolder",
    "fraudTrans",
    "otherBlack",
    "caseRelated",
];

/// The longest orderid taken from the vendor (its own are 24 characters, `JH719…`), and the
/// longest a journal record keeps: an answer with a longer one is not trusted.
pub const MAX_ORDERID: usize = 64;

/// 查询成功: the answer carries the six flags and an orderid.
pub const SUCCESS: i64 = 0;
/// 数据源超时: the vendor's own source did not answer in time.
pub const DATA_SOURCE_TIMEOUT: i64 = 271901;
/// 银行卡号错误: the card number is not one the vendor accepts.
pub const BAD_CARD: i64 = 271902;
/// 查询异常: the query failed at the vendor.
pub const QUERY_EXCEPTION: i64 = 271903;
/// 错误的请求KEY: also the answer to a missing key.
pub const BAD_KEY: i64 = 10001;
/// 该KEY无请求权限
pub const KEY_NOT_PERMITTED: i64 = 10002;
/// KEY过期
pub const KEY_EXPIRED: i64 = 10003;
/// 错误的OPENID
pub const BAD_OPENID: i64 = 10004;
/// 应用未审核超时，请提交认证
pub const APP_NOT_VERIFIED: i64 = 10005;
/// 未知的请求源
pub const UNKNOWN_SOURCE: i64 = 10007;
/// 被禁止的IP
pub const IP_BANNED: i64 = 10008;
/// 被禁止的KEY
pub const KEY_BANNED: i64 = 10009;
/// 当前IP请求超过限制: calls come too fast.
pub const RATE_LIMITED: i64 = 10011;
/// 请求超过次数限制: the paid request count is used up.
pub const QUOTA_USED_UP: i64 = 10012;
/// 测试KEY超过请求限制: the request count of a test key is used up.
pub const TEST_QUOTA_USED_UP: i64 = 10013;
/// 系统内部异常
pub const INTERNAL_ERROR: i64 = 10014;
/// 接口维护
pub const MAINTENANCE: i64 = 10020;
/// 接口停用
pub const INTERFACE_STOPPED: i64 = 10021;

/// The vendor's `reason` for a code it documents. Only people read it: clients branch on the
/// code, since the vendor has sent the same words with different codes.
pub fn reason(code: i64) -> Option<&'static str> {
    Some(match code {
        SUCCESS => "查询成功",
        DATA_SOURCE_TIMEOUT => "数据源超时",
        BAD_CARD => "银行卡号错误",
        QUERY_EXCEPTION => "查询异常",
        BAD_KEY => "错误的请求KEY",
        KEY_NOT_PERMITTED => "该KEY无请求权限",
        KEY_EXPIRED => "KEY过期",
        BAD_OPENID => "错误的OPENID",
        APP_NOT_VERIFIED => "应用未审核超时，请提交认证",
        UNKNOWN_SOURCE => "未知的请求源",
        IP_BANNED => "被禁止的IP",
        KEY_BANNED => "被禁止的KEY",
        RATE_LIMITED => "当前IP请求超过限制",
        QUOTA_USED_UP => "请求超过次数限制",
        TEST_QUOTA_USED_UP => "测试KEY超过请求限制",
        INTERNAL_ERROR => "系统内部异常",
        MAINTENANCE => "接口维护",
        INTERFACE_STOPPED => "接口停用",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_endpoint_serves_the_query_path_over_https() {
        assert!(DEFAULT_ENDPOINT.starts_with("https://"));
        assert!(DEFAULT_ENDPOINT.ends_with(QUERY_PATH));
    }

    #[test]
    fn documented_codes_have_the_vendors_words() {
        assert_eq!(reason(RATE_LIMITED), Some("当前IP请求超过限制"));
        assert_eq!(reason(BAD_CARD), Some("银行卡号错误"));
        for code in [
            10001, 10002, 10003, 10004, 10005, 10007, 10008, 10009, 10011, 10012, 10013, 10014,
            10020, 10021, 271901, 271902, 271903,
        ] {
            assert!(reason(code).is_some(), "{code}");
        }
        assert_eq!(reason(10006), None);
    }
}
