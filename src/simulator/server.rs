//! The simulator's HTTP/1.1 server (over TLS with `--tls-cert`): binding, the accept loop, one
//! task per connection with a graceful stop, routing to the query, `/stats`, `/reset` and
//! `/next-day`, and the stream that can reset.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::backend::Backend;
use super::config::SimulatorConfig;
use super::http::{respond, HttpResponse, ResetFault, JSON_CONTENT_TYPE};
use super::query::query;
use super::stats::Stats;
use crate::vendor::QUERY_PATH;

/// A simulator serving on the current tokio runtime. Dropping it stops the server as
/// [`RunningSimulator::shutdown`] does, without waiting.
pub struct RunningSimulator {
    addr: SocketAddr,
    /// `http`, or `https` with `--tls-cert`.
    scheme: &'static str,
    backend: Arc<Backend>,
    stop: watch::Sender<bool>,
    accept_task: Option<tokio::task::JoinHandle<()>>,
    connections_closed: Option<mpsc::Receiver<()>>,
}

impl RunningSimulator {
    /// The bound address: with port 0 in `listen`, the port the system chose.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the query, `http://ADDR/bankcardblack/query` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        format!("{}://{}{}", self.scheme, self.addr, QUERY_PATH)
    }

    /// The counters `GET /stats` reports, read in-process.
    pub fn stats(&self) -> Stats {
        self.backend.stats()
    }

    /// Stops accepting, lets calls in flight finish, and closes idle connections.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(accept_task) = self.accept_task.take() {
            let _ = accept_task.await;
        }
        if let Some(mut connections_closed) = self.connections_closed.take() {
            // A slow fault can hold a connection for its whole delay (30 s by default); a
            // stopping program should not wait for a reply nobody will read.
            let _ = tokio::time::timeout(Duration::from_secs(2), connections_closed.recv()).await;
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Binds `config.listen`, spawns the server on the current tokio runtime and returns at once.
pub async fn start(config: SimulatorConfig) -> io::Result<RunningSimulator> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(super::tls::acceptor(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let backend = Arc::new(Backend::new(config));
    let (stop, stop_seen) = watch::channel(false);
    // Every connection task holds a sender; `recv` returns `None` once the last one is gone.
    let (connection_open, connections_closed) = mpsc::channel(1);
    let accept_task = tokio::spawn(accept_loop(
        listener,
        tls,
        Arc::clone(&backend),
        stop_seen,
        connection_open,
    ));
    info!(%addr, scheme, "Simulator listening.");
    Ok(RunningSimulator {
        addr,
        scheme,
        backend,
        stop,
        accept_task: Some(accept_task),
        connections_closed: Some(connections_closed),
    })
}

/// Starts the simulator, prints `listening on http://ADDR` (`https://` with TLS) on stdout and
/// serves until ctrl-c.
pub(crate) async fn serve_forever(config: SimulatorConfig) -> io::Result<()> {
    let simulator = start(config).await?;
    {
        let mut stdout = io::stdout().lock();
        writeln!(
            stdout,
            "listening on {}://{}",
            simulator.scheme,
            simulator.addr()
        )?;
        stdout.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    info!("Simulator stopping.");
    simulator.shutdown().await;
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    backend: Arc<Backend>,
    mut stop: watch::Receiver<bool>,
    connection_open: mpsc::Sender<()>,
) {
    loop {
        let stream = tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Usually out of file descriptors: pausing lets open connections finish
                    // instead of spinning on the same error.
                    warn!(%error, "Accepting a connection failed; retrying shortly.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Answers are one small write each; Nagle would hold them back for the client's ACK.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            tls.clone(),
            Arc::clone(&backend),
            stop.clone(),
            connection_open.clone(),
        ));
    }
}

/// Resolves once the simulator is told to stop, or its handle is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn serve_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    backend: Arc<Backend>,
    mut stop: watch::Receiver<bool>,
    _connection_open: mpsc::Sender<()>,
) {
    let reset = Arc::new(AtomicBool::new(false));
    let stream = ResettableStream {
        stream,
        reset: Arc::clone(&reset),
    };
    let Some(tls) = tls else {
        return serve_http(stream, backend, reset, stop).await;
    };
    let accepted = tokio::select! {
        accepted = tls.accept(stream) => accepted,
        () = stopped(&mut stop) => return,
    };
    match accepted {
        Ok(stream) => serve_http(stream, backend, reset, stop).await,
        // A client that does not trust the certificate ends here, before any request.
        Err(error) => debug!(%error, "TLS handshake failed."),
    }
}

/// HTTP/1.1 on one connection, plain or TLS, until it closes or the simulator stops.
async fn serve_http<S>(
    stream: S,
    backend: Arc<Backend>,
    reset: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let service = service_fn(move |request| {
        let backend = Arc::clone(&backend);
        let reset = Arc::clone(&reset);
        async move { route(&backend, &reset, request).await }
    });
    let connection = http1::Builder::new()
        .keep_alive(true)
        // Without this hyper would close keep-alive connections idle for 30 s, racing clients
        // whose pools still hold them.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            outcome = connection.as_mut() => {
                if let Err(error) = outcome {
                    debug!(%error, "Connection ended with an error.");
                }
                break;
            }
            () = stopped(&mut stop), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A TCP stream that is closed with a RST instead of a FIN when the reset fault strikes, so a
/// client sees "connection reset" as it would from a failing load balancer.
struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

async fn route(
    backend: &Backend,
    reset: &AtomicBool,
    request: Request<Incoming>,
) -> Result<HttpResponse, ResetFault> {
    let method = request.method().clone();
    match (request.uri().path(), method) {
        (QUERY_PATH, Method::GET | Method::POST) => query(backend, reset, request).await,
        (QUERY_PATH, _) => Ok(method_not_allowed("GET, POST")),
        ("/stats", Method::GET) => Ok(stats_answer(backend)),
        ("/stats", _) => Ok(method_not_allowed("GET")),
        ("/reset", Method::POST) => {
            backend.new_day();
            Ok(respond(StatusCode::OK, JSON_CONTENT_TYPE, r#"{"ok":true}"#))
        }
        ("/reset", _) => Ok(method_not_allowed("POST")),
        ("/next-day", Method::POST) => {
            let day = backend.next_day();
            Ok(respond(
                StatusCode::OK,
                JSON_CONTENT_TYPE,
                format!(r#"{{"day":{day}}}"#),
            ))
        }
        ("/next-day", _) => Ok(method_not_allowed("POST")),
        _ => Ok(respond(
            StatusCode::NOT_FOUND,
            "text/plain;charset=utf-8",
            "not found\n",
        )),
    }
}

fn stats_answer(backend: &Backend) -> HttpResponse {
    match serde_json::to_vec(&backend.stats()) {
        Ok(body) => respond(StatusCode::OK, JSON_CONTENT_TYPE, body),
        Err(error) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain;charset=utf-8",
            format!("cannot encode the stats: {error}\n"),
        ),
    }
}

fn method_not_allowed(allowed: &'static str) -> HttpResponse {
    let mut response = respond(
        StatusCode::METHOD_NOT_ALLOWED,
        "text/plain;charset=utf-8",
        "method not allowed\n",
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allowed));
    response
}
