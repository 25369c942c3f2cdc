//! The vendor API client: one pooled HTTPS client, a form POST per card, the answer's body
//! read to at most 64 KiB and handed to `answer` to parse. HTTP only: what an answer means is
//! `classify`'s.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::answer::{parse_answer, Reply, TransportFailure};
use super::tls::{untrusted_certificate, Trust};
use crate::card::Card;
use crate::vendor;

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

    #[test]
    fn form_values_are_escaped() {
        let mut out = String::new();
        percent_encode_into("a b&c=d/é", &mut out);
        assert_eq!(out, "a+b%26c%3Dd%2F%C3%A9");
    }
}
