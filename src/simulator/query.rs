//! One call to the query path: read the fields as the vendor does, meet a transport fault or
//! get the vendor's verdict, and answer after the service time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use tracing::debug;

use super::backend::Backend;
use super::faults::{draw, Draw, TransportFault};
use super::http::{json_answer, respond, HttpResponse, ResetFault, JSON_CONTENT_TYPE};
use crate::vendor;

/// A form body bigger than this is not a card query; reading it whole would only cost memory.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What an nginx in front of the vendor sends when the backend is gone.
const BAD_GATEWAY_PAGE: &str =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

pub(super) async fn query(
    backend: &Backend,
    reset: &AtomicBool,
    request: Request<Incoming>,
) -> Result<HttpResponse, ResetFault> {
    let _in_flight = backend.counters.enter();
    let call = backend.counters.next_call();
    let fields = QueryFields::read(request).await;
    let config = &backend.config;
    let key_ok = fields.key.as_deref() == Some(config.key.as_str());
    let card = fields.bankcard.as_deref();
    let fault = config
        .faults
        .pick(draw(config.seed, call, Draw::TransportFault));

    // Faulty calls never reach the vendor's rate limiter, so they are not offered to it.
    let rate_ok = backend.note_arrival(Instant::now(), fault.is_none() && key_ok);

    if let Some(fault) = fault {
        backend.counters.tally_fault(fault, card);
        debug!(call, fault = fault.name(), "Simulating a transport fault.");
        return fault_answer(backend, reset, call, fault, key_ok, card).await;
    }

    let verdict = backend.judge(call, key_ok, rate_ok, card);
    let answer = backend.answer(verdict, card);
    backend.counters.tally_answer(verdict.error_code(), card);
    backend.service_time(call).await;
    Ok(json_answer(&answer))
}

/// How a call hit by a transport fault ends; none of them is billed.
async fn fault_answer(
    backend: &Backend,
    reset: &AtomicBool,
    call: u64,
    fault: TransportFault,
    key_ok: bool,
    card: Option<&str>,
) -> Result<HttpResponse, ResetFault> {
    match fault {
        TransportFault::Slow => {
            tokio::time::sleep(backend.config.faults.slow_delay).await;
            Ok(json_answer(&backend.unbilled_answer(key_ok, card)))
        }
        TransportFault::Http502 => {
            backend.service_time(call).await;
            Ok(respond(
                StatusCode::BAD_GATEWAY,
                "text/html",
                BAD_GATEWAY_PAGE,
            ))
        }
        TransportFault::Truncated => {
            backend.service_time(call).await;
            let mut body = backend.unbilled_answer(key_ok, card).encode();
            body.truncate(body.len() / 2);
            Ok(respond(StatusCode::OK, JSON_CONTENT_TYPE, body))
        }
        TransportFault::Reset => {
            backend.service_time(call).await;
            reset.store(true, Ordering::Relaxed);
            Err(ResetFault)
        }
    }
}

#[derive(Default, Debug)]
struct QueryFields {
    key: Option<String>,
    bankcard: Option<String>,
}

impl QueryFields {
    /// Like the vendor, takes the fields from the query string and from a form body, the body
    /// winning; a JSON body is not read for fields, so a key sent only there is missing.
    async fn read(request: Request<Incoming>) -> QueryFields {
        let mut fields = QueryFields::default();
        if let Some(query) = request.uri().query() {
            fields.absorb(query.as_bytes());
        }
        let form_body = request.method() == Method::POST && !is_json(request.headers());
        // The body is read even when it is ignored, so that the connection stays reusable.
        match Limited::new(request.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(body) if form_body => fields.absorb(&body.to_bytes()),
            Ok(_) => {}
            // An unreadable or oversized body carries no usable key: the answer becomes 10001.
            Err(error) => {
                debug!(%error, "Could not read a request body.");
                fields.key = None;
            }
        }
        fields
    }

    fn absorb(&mut self, form: &[u8]) {
        for (name, value) in form_urlencoded::parse(form) {
            match name.as_ref() {
                vendor::KEY_FIELD => self.key = Some(value.into_owned()),
                vendor::CARD_FIELD => self.bankcard = Some(value.into_owned()),
                _ => {}
            }
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).is_some_and(|value| {
        value
            .as_bytes()
            .windows(4)
            .any(|word| word.eq_ignore_ascii_case(b"json"))
    })
}
