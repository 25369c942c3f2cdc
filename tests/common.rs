//! Shared test harness: the real `cardscreen` binary, a real simulator process on a loopback
//! port, and helpers to read outputs and simulator counters back.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

pub const BIN: &str = env!("CARGO_BIN_EXE_cardscreen");
pub const KEY: &str = "test-key-5f2e9c";

/// The columns SPEC §3 adds after the input's, in order.
pub const ADDED: [&str; 12] = [
    "status",
    "hit",
    "onlineBlack",
    "offlineBlack",
    "badCardHolder",
    "fraudTrans",
    "otherBlack",
    "caseRelated",
    "orderid",
    "error_code",
    "error",
    "attempts",
];

/// Where the six flags sit in `ADDED`: the vendor's answer names them the same way.
pub const FLAGS: std::ops::Range<usize> = 2..8;

/// The header line of an output: the input's names, then `ADDED`.
pub fn header_line(input: &[&str], delimiter: char) -> String {
    let names: Vec<&str> = input.iter().chain(&ADDED).copied().collect();
    format!("{}\n", names.join(&delimiter.to_string()))
}

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
        let stats = self.stats();
        stats["per_card"]
            .as_object()
            .unwrap_or_else(|| panic!("no per_card in {stats}"))
            .iter()
            .map(|(card, calls)| (card.clone(), calls.as_u64().expect("a call count")))
            .collect()
    }
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

/// A `screen` command against `sim`, with the key in the environment and quick settings.
pub fn screen(sim: &Simulator, input: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("screen")
        .arg(input)
        .args([
            "--endpoint",
            &sim.endpoint(),
            "--rate",
            "0",
            "--concurrency",
            "8",
        ])
        .args([
            "--backoff-base",
            "1ms",
            "--backoff-max",
            "5ms",
            "--progress",
            "never",
        ])
        .args(extra)
        .env("JUHE_KEY", KEY)
        .env_remove("RUST_LOG");
    cmd
}

pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut()
        .stdin(Stdio::null())
        .output()
        .expect("run cardscreen")
}

/// Runs `cmd` with `input` on its standard input.
pub fn run_with_stdin(mut cmd: impl std::borrow::BorrowMut<Command>, input: &[u8]) -> Output {
    let mut child = cmd
        .borrow_mut()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cardscreen");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    // A writer thread, so that a large input cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for cardscreen");
    writer.join().expect("stdin writer");
    output
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Reads a CSV file back: header and rows.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv_with(path, b',')
}

pub fn read_csv_with(path: &Path, delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_path(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut records = reader.records().map(|r| {
        r.expect("csv row")
            .iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let header = records.next().unwrap_or_default();
    (header, records.collect())
}

/// Parses CSV bytes (an output written to stdout): header and rows.
pub fn parse_csv(bytes: &[u8], delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut records = reader.records().map(|r| {
        r.expect("csv row")
            .iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let header = records.next().unwrap_or_default();
    (header, records.collect())
}

/// Column `name` of every row.
pub fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<String> {
    let index = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    rows.iter().map(|r| r[index].clone()).collect()
}

/// A temporary directory with a CSV written into it.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write fixture");
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Copies a file from `fixtures/`.
    pub fn fixture(&self, name: &str) -> PathBuf {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        let target = self.path(name);
        std::fs::copy(&source, &target)
            .unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
        target
    }
}

/// `count` distinct Luhn-valid 16-digit UnionPay-like card numbers, deterministic.
pub fn cards(count: usize, seed: u64) -> Vec<String> {
    (0..count as u64)
        .map(|i| {
            let body = format!("622848{:09}", (seed * 1_000_003 + i * 7919) % 1_000_000_000);
            let check = luhn_digit(&body);
            format!("{body}{check}")
        })
        .collect()
}

fn luhn_digit(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// A CSV with an id column and a `card` column.
pub fn card_csv(cards: &[String]) -> String {
    let mut text = String::from("id,card\n");
    for (i, card) in cards.iter().enumerate() {
        text.push_str(&format!("{},{card}\n", i + 1));
    }
    text
}

/// Spawns a command with piped stderr, for runs that are interrupted.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cardscreen")
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

/// Sends a signal to a child process.
pub fn signal(child: &Child, number: i32) {
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(pid, number) };
    assert_eq!(rc, 0, "kill failed");
}

/// Waits for a child with a bound, returning its exit code and stderr.
pub fn finish(mut child: Child, within: std::time::Duration) -> (i32, String) {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            return (status.code().unwrap_or(-1), err);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("cardscreen did not exit within {within:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Every column but `orderid`, row by row, for comparing runs.
pub fn without_orderid(path: &Path) -> Vec<Vec<String>> {
    let (header, rows) = read_csv(path);
    let skip = header
        .iter()
        .position(|h| h == "orderid")
        .expect("orderid column");
    std::iter::once(header)
        .chain(rows)
        .map(|row| {
            row.into_iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, f)| f)
                .collect()
        })
        .collect()
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

/// The names of the files in a directory, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The output of an uninterrupted run over `input`, against a simulator of its own.
pub fn reference(work: &Workdir, input: &std::path::Path) -> Vec<Vec<String>> {
    let sim = Simulator::start(&[]);
    let out = work.path("reference.csv");
    let result = run(screen(&sim, input, &["-o", out.to_str().unwrap()]));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    without_orderid(&out)
}

/// Stops a run with signal `number` part-way, expects `expected_code`, then resumes it: the
/// output equals an uninterrupted run's and no card is paid for twice.
pub fn interrupt_then_resume(number: i32, expected_code: i32) {
    let sim = Simulator::start(&["--latency", "20ms"]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(200, 21 + number as u64)));
    let expected = reference(&work, &input);
    let out = work.path("out.csv");
    let child = spawn(&mut screen(&sim, &input, &["-o", out.to_str().unwrap()]));
    wait_for_calls(&sim, 60);
    signal(&child, number);
    let (code_seen, err) = finish(child, std::time::Duration::from_secs(20));
    assert_eq!(code_seen, expected_code, "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert!(!out.exists());
    let result = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    assert_eq!(without_orderid(&out), expected);
    assert_eq!(
        paid_twice(&sim),
        Vec::<String>::new(),
        "no card is paid twice after a signal"
    );
}
