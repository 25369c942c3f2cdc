//! The vendor API client: one pooled HTTPS client, a form POST per card, tolerant parsing of
//! the answer, and `classify`, the one place where the vendor's error-code table lives.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::tls::{untrusted_certificate, Trust};
use crate::card::Card;
use crate::outcome::Flags;
use crate::vendor;

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

/// What the pool does with a reply: the error-code table of the README as one `match`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Disposition {
    Ok {
        flags: Flags,
        orderid: String,
    },
    /// The vendor says the card number is wrong (271902): invalid, never retried.
    Invalid {
        code: i64,
        reason: String,
    },
    /// Worth calling again after a backoff.
    Retry {
        code: Option<i64>,
        what: String,
    },
    /// The vendor says we are too fast (10011): back off and slow down.
    Throttle,
    /// Quota used up: stop the run, keep progress.
    Stop {
        code: i64,
        reason: String,
    },
    /// Key, IP or interface refused: every further call would fail the same way.
    Abort {
        code: i64,
        reason: String,
    },
    /// The server's certificate is not trusted: every further call would fail the same way.
    Untrusted {
        host: String,
        why: String,
    },
    /// An unknown code: the row fails, no retry.
    RowError {
        code: i64,
        reason: String,
    },
}

pub(crate) fn classify(reply: Reply) -> Disposition {
    let answer = match reply {
        Reply::Answer(answer) => answer,
        Reply::Transport(TransportFailure::UntrustedCertificate { host, why }) => {
            return Disposition::Untrusted { host, why }
        }
        Reply::Transport(failure) => {
            return Disposition::Retry {
                code: None,
                what: failure.to_string(),
            }
        }
    };
    let code = answer.error_code;
    let reason = answer.reason;
    match code {
        vendor::SUCCESS => match (answer.flags, answer.orderid) {
            (Some(flags), Some(orderid)) if is_vendor_orderid(&orderid) => {
                Disposition::Ok { flags, orderid }
            }
            (Some(_), _) => Disposition::Retry {
                code: None,
                what: format!(
                    "unexpected orderid (not 1 to {MAX_ORDERID} letters and digits) from the API"
                ),
            },
            (None, _) => Disposition::Retry {
                code: None,
                what: "unreadable answer (success without the six flags)".to_string(),
            },
        },
        vendor::BAD_CARD => Disposition::Invalid { code, reason },
        vendor::DATA_SOURCE_TIMEOUT => Disposition::Retry {
            code: Some(code),
            what: format!("data source timeout ({code})"),
        },
        vendor::QUERY_EXCEPTION => Disposition::Retry {
            code: Some(code),
            what: format!("query exception ({code})"),
        },
        vendor::INTERNAL_ERROR => Disposition::Retry {
            code: Some(code),
            what: format!("vendor internal error ({code})"),
        },
        vendor::MAINTENANCE => Disposition::Retry {
            code: Some(code),
            what: format!("interface under maintenance ({code})"),
        },
        vendor::BAD_KEY
        | vendor::KEY_NOT_PERMITTED
        | vendor::KEY_EXPIRED
        | vendor::BAD_OPENID
        | vendor::APP_NOT_VERIFIED
        | vendor::UNKNOWN_SOURCE
        | vendor::IP_BANNED
        | vendor::KEY_BANNED
        | vendor::INTERFACE_STOPPED => Disposition::Abort { code, reason },
        vendor::RATE_LIMITED => Disposition::Throttle,
        vendor::QUOTA_USED_UP | vendor::TEST_QUOTA_USED_UP => Disposition::Stop { code, reason },
        _ => Disposition::RowError { code, reason },
    }
}

/// The longest orderid taken from the vendor; its own are 24 characters (`JH719…`).
const MAX_ORDERID: usize = 64;

/// The vendor's orderids are letters and digits. Anything else is not trusted: the orderid
/// goes into the output as it came, and a spreadsheet runs a cell such as `=cmd|' /C calc'!A0`
/// or `+HYPERLINK(…)`; nor is the answer that carried it.
fn is_vendor_orderid(orderid: &str) -> bool {
    (1..=MAX_ORDERID).contains(&orderid.len()) && orderid.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("cannot set up the HTTP client: {0}")]
    Build(String),
}

/// What the client needs from the settings.
#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    pub(crate) endpoint: String,
    pub(crate) key: SecretString,
    /// Of one HTTP call, connecting included.
    pub(crate) timeout: Duration,
    /// Idle connections kept: one per call that may be in flight.
    pub(crate) pool_size: usize,
    /// The certificates trusted beside the bundled web roots.
    pub(crate) trust: Trust,
}

/// One pooled HTTP client for the whole run.
pub(crate) struct Client {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    /// `key=<urlencoded key>&bankcard=`, built once so each call only appends digits.
    form_prefix: SecretString,
}

impl Client {
    pub(crate) fn new(options: &ClientOptions) -> Result<Client, ClientError> {
        let ClientOptions {
            endpoint,
            key,
            timeout,
            pool_size,
            trust,
        } = options;
        let (timeout, pool_size) = (*timeout, *pool_size);
        let endpoint =
            reqwest::Url::parse(endpoint).map_err(|e| ClientError::Build(e.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(pool_size)
            .tcp_nodelay(true)
            // The vendor never redirects a query. Following one would send the key and the card
            // to whatever host it names (307/308 re-POST them), perhaps over plain http, and
            // take that host's answer for the vendor's.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(endpoint.scheme() == "https")
            .user_agent(concat!("cardscreen/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&endpoint) {
            // A proxy from the environment must not carry calls meant for this machine (the
            // simulator) elsewhere.
            builder = builder.no_proxy();
        }
        // Verification stays on whatever the endpoint: trust is added, never taken away.
        let builder = trust
            .apply(builder)
            .map_err(|e| ClientError::Build(e.to_string()))?;
        let http = builder
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        let mut prefix = format!("{}=", vendor::KEY_FIELD);
        percent_encode_into(key.expose_secret(), &mut prefix);
        prefix.push('&');
        prefix.push_str(vendor::CARD_FIELD);
        prefix.push('=');
        Ok(Client {
            http,
            endpoint,
            form_prefix: SecretString::from(prefix),
        })
    }

    /// One call for one card. Never fails: every failure is a `Reply::Transport`.
    pub(crate) async fn query(&self, card: &Card) -> Reply {
        let prefix = self.form_prefix.expose_secret();
        let mut body = String::with_capacity(prefix.len() + card.len());
        body.push_str(prefix);
        body.push_str(card.as_str());
        let sent = self
            .http
            .post(self.endpoint.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => match untrusted_certificate(&e) {
                Some(why) => {
                    let host = self.endpoint.host_str().unwrap_or_default().to_string();
                    return Reply::Transport(TransportFailure::UntrustedCertificate { host, why });
                }
                None => return Reply::Transport(transport_failure(&e)),
            },
        };
        let status = response.status();
        if status.is_redirection() {
            return Reply::Transport(TransportFailure::Redirect {
                status: status.as_u16(),
                to: self.location_host(&response),
            });
        }
        if status != reqwest::StatusCode::OK {
            return Reply::Transport(TransportFailure::Status(status.as_u16()));
        }
        read_answer(response).await
    }

    /// The host a redirect points to, for the row's error; only the host, as the URL may carry
    /// anything.
    fn location_host(&self, response: &reqwest::Response) -> String {
        response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|location| location.to_str().ok())
            .and_then(|location| self.endpoint.join(location).ok())
            .and_then(|url| url.host_str().map(str::to_string))
            .unwrap_or_else(|| "no readable Location".to_string())
    }
}

/// The vendor's answers are under 1 KB; a body larger than this is not one, however it ends.
const MAX_ANSWER: usize = 64 * 1024;

/// Reads the body up to `MAX_ANSWER` bytes and no further, so that a huge or endless answer
/// costs at most that much memory and is cut off at once rather than at `--timeout`, and
/// parses it.
async fn read_answer(mut response: reqwest::Response) -> Reply {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER as u64)
    {
        return Reply::Transport(TransportFailure::TooLarge);
    }
    let mut next = async || response.chunk().await.map_err(|e| transport_failure(&e));
    let read = async {
        let Some(first) = next().await? else {
            return Ok(parse_answer(b""));
        };
        // Nearly every answer comes as one chunk: parse it where it is, without a copy.
        let Some(second) = next().await? else {
            return match first.len() {
                0..=MAX_ANSWER => Ok(parse_answer(&first)),
                _ => Err(TransportFailure::TooLarge),
            };
        };
        let mut body = Vec::with_capacity(first.len() + second.len());
        let mut chunk = Some(second);
        body.extend_from_slice(&first);
        while let Some(more) = chunk {
            if body.len() + more.len() > MAX_ANSWER {
                return Err(TransportFailure::TooLarge);
            }
            body.extend_from_slice(&more);
            chunk = next().await?;
        }
        Ok(parse_answer(&body))
    };
    read.await.unwrap_or_else(Reply::Transport)
}

/// True for `http://` endpoints that leave this machine: card numbers would travel in clear.
pub(crate) fn is_cleartext_remote(endpoint: &str) -> bool {
    reqwest::Url::parse(endpoint).is_ok_and(|url| url.scheme() == "http" && !is_loopback(&url))
}

/// True when the URL's host is this machine.
fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// reqwest's errors carry the URL; we report only the kind of failure, never the request.
fn transport_failure(error: &reqwest::Error) -> TransportFailure {
    if error.is_timeout() {
        return TransportFailure::Timeout;
    }
    let kind = if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "answer cut off"
    } else if error.is_request() {
        "connection closed or reset"
    } else {
        "HTTP error"
    };
    TransportFailure::Connection(kind.to_string())
}

#[derive(Deserialize)]
struct Envelope {
    error_code: serde_json::Value,
    #[serde(default)]
    reason: serde_json::Value,
    #[serde(default)]
    result: serde_json::Value,
}

/// Parses the vendor's JSON. Tolerant where the vendor is loose (flags as "0"/"1" or 0/1,
/// `result` null, `{}` or a string on errors, an old `resultcode` field) and strict where a
/// wrong guess would cost a true answer (no `error_code`, or a success without all six flags).
pub(crate) fn parse_answer(body: &[u8]) -> Reply {
    match super::quick::success(body) {
        Some((flags, orderid)) => Reply::Answer(Answer {
            error_code: vendor::SUCCESS,
            reason: String::new(),
            flags: Some(flags),
            orderid: Some(orderid.to_string()),
        }),
        None => parse_tolerant(body),
    }
}

/// The general reading of an answer, whatever its shape.
fn parse_tolerant(body: &[u8]) -> Reply {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(e) => {
            let what = if e.is_eof() {
                "JSON cut off".to_string()
            } else {
                "not the vendor JSON".to_string()
            };
            return Reply::Transport(TransportFailure::BadBody(what));
        }
    };
    let Some(error_code) = as_integer(&envelope.error_code) else {
        return Reply::Transport(TransportFailure::BadBody("no error_code".to_string()));
    };
    let reason = match envelope.reason {
        _ if error_code == 0 => String::new(),
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let (flags, orderid) = if error_code == 0 {
        (
            envelope.result.get("data").and_then(parse_flags),
            envelope.result.get("orderid").and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
        )
    } else {
        (None, None)
    };
    Reply::Answer(Answer {
        error_code,
        reason,
        flags,
        orderid,
    })
}

fn as_integer(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_flags(data: &serde_json::Value) -> Option<Flags> {
    let mut bits = [false; 6];
    for (bit, name) in bits.iter_mut().zip(vendor::FLAG_NAMES) {
        *bit = match data.get(name)? {
            serde_json::Value::String(s) if s == "1" => true,
            serde_json::Value::String(s) if s == "0" => false,
            serde_json::Value::Number(n) if n.as_u64() == Some(1) => true,
            serde_json::Value::Number(n) if n.as_u64() == Some(0) => false,
            serde_json::Value::Bool(b) => *b,
            _ => return None,
        };
    }
    Some(Flags::from_bools(bits))
}

/// application/x-www-form-urlencoded escaping of one value.
fn percent_encode_into(value: &str, out: &mut String) {
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 15)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_remote_endpoints_are_recognised() {
        assert!(is_cleartext_remote(
            "http://apis.juhe.cn/bankcardblack/query"
        ));
        assert!(!is_cleartext_remote(
            "http://127.0.0.1:8787/bankcardblack/query"
        ));
        assert!(!is_cleartext_remote("http://localhost:1/x"));
        assert!(!is_cleartext_remote("http://[::1]:1/x"));
        assert!(!is_cleartext_remote(crate::vendor::DEFAULT_ENDPOINT));
    }

    fn answer(code: i64) -> Reply {
        Reply::Answer(Answer {
            error_code: code,
            reason: "r".into(),
            flags: None,
            orderid: None,
        })
    }

    #[test]
    fn success_is_ok_with_flags_and_orderid() {
        let reply = parse_answer(
            r#"{"reason":"查询成功","result":{"data":{"onlineBlack":"0","offlineBlack":"1","badCardHolder":"0","fraudTrans":"0","otherBlack":"0","caseRelated":"1"},"orderid":"JH719"},"error_code":0}"#
                .as_bytes(),
        );
        assert_eq!(
            classify(reply),
            Disposition::Ok {
                flags: Flags(0b10_0010),
                orderid: "JH719".into()
            }
        );
    }

    #[test]
    fn numeric_flags_are_accepted() {
        let reply = parse_answer(
            br#"{"reason":"ok","result":{"data":{"onlineBlack":1,"offlineBlack":0,"badCardHolder":0,"fraudTrans":0,"otherBlack":0,"caseRelated":0},"orderid":"X"},"error_code":0}"#,
        );
        assert!(matches!(
            classify(reply),
            Disposition::Ok {
                flags: Flags(1),
                ..
            }
        ));
    }

    #[test]
    fn success_missing_a_flag_is_retried_not_trusted() {
        let reply = parse_answer(
            br#"{"reason":"ok","result":{"data":{"onlineBlack":"0"},"orderid":"X"},"error_code":0}"#,
        );
        assert!(matches!(
            classify(reply),
            Disposition::Retry { code: None, .. }
        ));
    }

    #[test]
    fn error_results_may_be_null_empty_or_text_with_resultcode() {
        for body in [
            r#"{"reason":"错误的请求KEY","result":null,"error_code":10001}"#,
            r#"{"reason":"错误的请求KEY","result":{},"error_code":10001,"resultcode":"101"}"#,
            r#"{"reason":"错误的请求KEY","result":"","error_code":"10001"}"#,
        ] {
            assert!(
                matches!(
                    classify(parse_answer(body.as_bytes())),
                    Disposition::Abort { code: 10001, .. }
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn branches_on_error_code_never_on_reason() {
        let reply =
            parse_answer(r#"{"reason":"查询成功","result":null,"error_code":10012}"#.as_bytes());
        assert!(matches!(
            classify(reply),
            Disposition::Stop { code: 10012, .. }
        ));
    }

    #[test]
    fn code_0_is_ok() {
        let reply = Reply::Answer(Answer {
            error_code: 0,
            reason: String::new(),
            flags: Some(Flags(0)),
            orderid: Some("o".into()),
        });
        assert!(matches!(classify(reply), Disposition::Ok { .. }));
    }

    #[test]
    fn a_success_with_an_orderid_that_is_not_letters_and_digits_is_retried() {
        let long = "J".repeat(MAX_ORDERID + 1);
        for orderid in [
            None,
            Some(""),
            Some("=cmd|' /C calc'!A0"),
            Some("+HYPERLINK(\"x\")"),
            Some("-2+3"),
            Some("@SUM(1)"),
            Some("JH719 1"),
            Some(long.as_str()),
        ] {
            let reply = Reply::Answer(Answer {
                error_code: 0,
                reason: String::new(),
                flags: Some(Flags(0)),
                orderid: orderid.map(str::to_string),
            });
            match classify(reply) {
                Disposition::Retry { code: None, what } => {
                    assert!(what.starts_with("unexpected orderid"), "{what}")
                }
                other => panic!("{orderid:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn code_271901_data_source_timeout_is_retried() {
        assert!(matches!(
            classify(answer(271901)),
            Disposition::Retry {
                code: Some(271901),
                ..
            }
        ));
    }

    #[test]
    fn code_271902_bad_card_is_invalid() {
        assert!(matches!(
            classify(answer(271902)),
            Disposition::Invalid { code: 271902, .. }
        ));
    }

    #[test]
    fn code_271903_query_exception_is_retried() {
        assert!(matches!(
            classify(answer(271903)),
            Disposition::Retry {
                code: Some(271903),
                ..
            }
        ));
    }

    #[test]
    fn refused_key_ip_or_interface_aborts() {
        for code in [
            10001, 10002, 10003, 10004, 10005, 10007, 10008, 10009, 10021,
        ] {
            assert!(
                matches!(classify(answer(code)), Disposition::Abort { .. }),
                "{code}"
            );
        }
    }

    #[test]
    fn code_10011_throttles() {
        assert_eq!(classify(answer(10011)), Disposition::Throttle);
    }

    #[test]
    fn quota_codes_stop() {
        for code in [10012, 10013] {
            assert!(
                matches!(classify(answer(code)), Disposition::Stop { .. }),
                "{code}"
            );
        }
    }

    #[test]
    fn code_10014_internal_error_is_retried() {
        assert!(matches!(
            classify(answer(10014)),
            Disposition::Retry {
                code: Some(10014),
                ..
            }
        ));
    }

    #[test]
    fn code_10020_maintenance_is_retried() {
        assert!(matches!(
            classify(answer(10020)),
            Disposition::Retry {
                code: Some(10020),
                ..
            }
        ));
    }

    #[test]
    fn unknown_codes_fail_the_row() {
        assert!(matches!(
            classify(answer(12345)),
            Disposition::RowError { code: 12345, .. }
        ));
    }

    #[test]
    fn an_untrusted_certificate_refuses_the_run() {
        let failure = TransportFailure::UntrustedCertificate {
            host: "apis.juhe.cn".into(),
            why: "expired".into(),
        };
        assert_eq!(
            classify(Reply::Transport(failure)),
            Disposition::Untrusted {
                host: "apis.juhe.cn".into(),
                why: "expired".into()
            }
        );
    }

    #[test]
    fn transport_failures_are_retried() {
        for failure in [
            TransportFailure::Status(502),
            TransportFailure::Redirect {
                status: 307,
                to: "elsewhere.example".into(),
            },
            TransportFailure::Timeout,
            TransportFailure::Connection("reset".into()),
            TransportFailure::TooLarge,
        ] {
            assert!(matches!(
                classify(Reply::Transport(failure)),
                Disposition::Retry { code: None, .. }
            ));
        }
        for body in [
            "<html>502 Bad Gateway</html>",
            r#"{"reason":"查询成功","result":{"da"#,
            "{}",
        ] {
            assert!(
                matches!(
                    parse_answer(body.as_bytes()),
                    Reply::Transport(TransportFailure::BadBody(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn the_quick_read_of_a_success_agrees_with_the_tolerant_one() {
        let flags = r#""onlineBlack":"0","offlineBlack":"1","badCardHolder":"0","fraudTrans":"0","otherBlack":"0","caseRelated":"1""#;
        let bodies = [
            format!(r#"{{"reason":"查询成功","result":{{"data":{{{flags}}},"orderid":"JH7"}},"error_code":0}}"#),
            format!(r#"{{"error_code":0,"result":{{"orderid":"J\u0048","data":{{{flags}}}}},"resultcode":"200"}}"#),
            r#"{"error_code":0,"result":{"data":{"onlineBlack":1,"offlineBlack":0,"badCardHolder":true,"fraudTrans":false,"otherBlack":0,"caseRelated":0},"orderid":"X"}}"#.to_string(),
            // Shapes the quick read refuses, for the tolerant one to settle.
            r#"{"error_code":0,"result":{"data":{"onlineBlack":"2","offlineBlack":0,"badCardHolder":0,"fraudTrans":0,"otherBlack":0,"caseRelated":0},"orderid":"X"}}"#.to_string(),
            r#"{"error_code":0,"result":{"data":{"onlineBlack":0},"orderid":"X"}}"#.to_string(),
            format!(r#"{{"error_code":0,"result":{{"data":{{{flags}}},"orderid":719}}}}"#),
            format!(r#"{{"error_code":0,"result":{{"data":{{{flags}}}}}}}"#),
            format!(r#"{{"error_code":"0","result":{{"data":{{{flags}}},"orderid":"X"}}}}"#),
            format!(r#"{{"error_code":271901,"result":{{"data":{{{flags}}},"orderid":"X"}},"reason":"数据源超时"}}"#),
            r#"{"error_code":10001,"result":null,"reason":"错误的请求KEY"}"#.to_string(),
        ];
        for body in &bodies {
            assert_eq!(
                parse_answer(body.as_bytes()),
                parse_tolerant(body.as_bytes()),
                "{body}"
            );
        }
        for body in [&bodies[0], &bodies[2]] {
            assert!(
                super::super::quick::success(body.as_bytes()).is_some(),
                "{body}"
            );
        }
        assert!(matches!(
            parse_answer(bodies[2].as_bytes()),
            Reply::Answer(Answer {
                flags: Some(Flags(0b101)),
                ..
            })
        ));
    }

    proptest::proptest! {
        /// Whatever the quick read accepts, the tolerant read reads the same way: a success
        /// with its bytes changed here and there, and fragments of JSON spliced in.
        #[test]
        fn the_quick_read_never_disagrees_with_the_tolerant_one(
            edits in proptest::collection::vec(
                (0usize..220, proptest::sample::select(vec![
                    "", " ", "0", "1", "\"", ",", ":", "{", "}", "[", "]", "\\", "\\u00", "-",
                    "e5", ".5", "true", "null", "\"orderid\":\"Y\"", "\"error_code\":1",
                    "\"onlineBlack\":\"1\"", "\u{e9}", "\u{1}",
                ]), 0usize..3),
                0..4,
            )
        ) {
            let mut body = r#"{"reason":"查询成功","result":{"data":{"onlineBlack":"0","offlineBlack":"1","badCardHolder":"0","fraudTrans":0,"otherBlack":false,"caseRelated":"1"},"orderid":"JH7191"},"error_code":0}"#.as_bytes().to_vec();
            for (at, insert, cut) in edits {
                let at = at.min(body.len());
                let end = (at + cut).min(body.len());
                body.splice(at..end, insert.bytes());
            }
            if let Some((flags, orderid)) = super::super::quick::success(&body) {
                let quick = Reply::Answer(Answer {
                    error_code: 0,
                    reason: String::new(),
                    flags: Some(flags),
                    orderid: Some(orderid.to_string()),
                });
                proptest::prop_assert_eq!(quick, parse_tolerant(&body), "{}", String::from_utf8_lossy(&body));
            }
        }
    }

    #[test]
    fn form_values_are_escaped() {
        let mut out = String::new();
        percent_encode_into("a b&c=d/é", &mut out);
        assert_eq!(out, "a+b%26c%3Dd%2F%C3%A9");
    }
}
