//! The HTTP answers the simulator sends, shared by the routes and the query: JSON bodies, plain
//! answers, and the fault that drops a connection without one.

use std::fmt;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use super::answers::Answer;

pub(super) const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";

pub(super) type HttpResponse = Response<Full<Bytes>>;

/// Returned by the service to make hyper drop the connection without answering.
#[derive(Debug)]
pub(super) struct ResetFault;

impl fmt::Display for ResetFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("simulated connection reset")
    }
}

impl std::error::Error for ResetFault {}

pub(super) fn json_answer(answer: &Answer) -> HttpResponse {
    respond(StatusCode::OK, JSON_CONTENT_TYPE, answer.encode())
}

pub(super) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
