//! The simulator as a process of its own on a loopback port, and its counters read back.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use super::{BIN, KEY};

/// A `cardscreen simulate` process, killed when dropped.
pub struct Simulator {
    child: Child,
    pub addr: String,
    scheme: String,
    /// How `/stats` is asked for over HTTPS: trusting the test CA.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Simulator {
    pub fn start(args: &[&str]) -> Simulator {
        Simulator::spawn(args, None)
    }

    /// A simulator serving HTTPS (`args` hold `--tls-cert` and `--tls-key`); `/stats` is read
    /// trusting the CA certificate `ca_pem`.
    pub fn start_https(args: &[&str], ca_pem: &str) -> Simulator {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Simulator::spawn(args, Some(Arc::new(config)))
    }

    fn spawn(args: &[&str], tls: Option<Arc<rustls::ClientConfig>>) -> Simulator {
        let mut child = Command::new(BIN)
            .args(["simulate", "--listen", "127.0.0.1:0", "--key", KEY])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start simulator");
        let stdout = child.stdout.take().expect("simulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let (scheme, addr) = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|url| url.split_once("://"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        assert_eq!(scheme == "https", tls.is_some(), "{line}");
        Simulator {
            scheme: scheme.to_string(),
            addr: addr.to_string(),
            child,
            tls,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("{}://{}/bankcardblack/query", self.scheme, self.addr)
    }

    /// `GET /stats` as JSON.
    pub fn stats(&self) -> serde_json::Value {
        let body = self.request("GET", "/stats");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad /stats body {body:?}: {e}"))
    }

    /// `POST /reset`: a new day for the quota.
    pub fn reset(&self) {
        self.request("POST", "/reset");
    }

    /// `POST /next-day`: the blacklists move on a day.
    pub fn next_day(&self) {
        self.request("POST", "/next-day");
    }

    fn request(&self, method: &str, path: &str) -> String {
        let stream = TcpStream::connect(&self.addr).expect("connect simulator");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        );
        let response = match &self.tls {
            None => exchange(stream, &request),
            Some(config) => {
                let host = self.addr.rsplit_once(':').expect("host:port").0;
                let name =
                    rustls::pki_types::ServerName::try_from(host.to_string()).expect("server name");
                let connection =
                    rustls::ClientConnection::new(Arc::clone(config), name).expect("TLS client");
                exchange(rustls::StreamOwned::new(connection, stream), &request)
            }
        };
        let (_, body) = response.split_once("\r\n\r\n").expect("HTTP response");
        body.to_string()
    }

    pub fn calls(&self) -> u64 {
        self.stats()["calls"].as_u64().expect("calls")
    }

    /// Calls the simulator received for one card.
    pub fn calls_for(&self, card: &str) -> u64 {
        self.stats()["per_card"][card].as_u64().unwrap_or(0)
    }

    /// Calls per card number exactly as the simulator received it.
    pub fn per_card(&self) -> BTreeMap<String, u64> {
        per_card_in(&self.stats())
    }
}

/// `per_card` of a `/stats` answer: calls per card number.
pub fn per_card_in(stats: &serde_json::Value) -> BTreeMap<String, u64> {
    stats["per_card"]
        .as_object()
        .unwrap_or_else(|| panic!("no per_card in {stats}"))
        .iter()
        .map(|(card, calls)| (card.clone(), calls.as_u64().expect("a call count")))
        .collect()
}

/// Sends a whole request and reads the answer until the server closes the connection. Over
/// TLS a close without close_notify ends the read with an error after the whole answer.
fn exchange(mut stream: impl Read + Write, request: &str) -> String {
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    if let Err(e) = stream.read_to_end(&mut response) {
        assert!(!response.is_empty(), "read response: {e}");
    }
    String::from_utf8(response).expect("UTF-8 response")
}

/// The `per_card` a run should leave when each of `cards` was called exactly once.
pub fn called_once(cards: &[&str]) -> BTreeMap<String, u64> {
    let expected: BTreeMap<String, u64> = cards.iter().map(|c| (c.to_string(), 1)).collect();
    assert_eq!(expected.len(), cards.len(), "duplicate in {cards:?}");
    expected
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the simulator has seen at least `calls` calls (bounded: 30 s).
pub fn wait_for_calls(sim: &Simulator, calls: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sim.calls() < calls {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never reached {calls} calls"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Cards the simulator answered successfully more than once.
pub fn paid_twice(sim: &Simulator) -> Vec<String> {
    let stats = sim.stats();
    stats["per_card_ok"]
        .as_object()
        .expect("per_card_ok")
        .iter()
        .filter(|(_, n)| n.as_u64().unwrap_or(0) > 1)
        .map(|(card, _)| card.clone())
        .collect()
}
