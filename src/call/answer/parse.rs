//! Reading the vendor's JSON: the strict quick read of a success first (`quick`), and the
//! tolerant read for every other shape.

use serde::Deserialize;

use super::quick;
use super::reply::{Answer, Reply, TransportFailure};
use crate::outcome::Flags;
use crate::vendor;

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
    match quick::success(body) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_that_are_not_the_vendor_json_are_bad_bodies() {
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
            assert!(quick::success(body.as_bytes()).is_some(), "{body}");
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
            if let Some((flags, orderid)) = quick::success(&body) {
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
}
