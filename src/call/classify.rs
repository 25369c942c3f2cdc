//! What the pool does with a reply: `classify`, the one place where the vendor's error-code
//! table lives, as one `match` with a test for each of its rows.

use super::answer::{Reply, TransportFailure};
use crate::outcome::Flags;
use crate::vendor::{self, MAX_ORDERID};

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

/// The vendor's orderids are letters and digits. Anything else is not trusted: the orderid
/// goes into the output as it came, and a spreadsheet runs a cell such as `=cmd|' /C calc'!A0`
/// or `+HYPERLINK(…)`; nor is the answer that carried it.
fn is_vendor_orderid(orderid: &str) -> bool {
    (1..=MAX_ORDERID).contains(&orderid.len()) && orderid.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::answer::{parse_answer, Answer};

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
    }
}
