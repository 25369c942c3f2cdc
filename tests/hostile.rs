//! Hold under hostile conditions: overlapping runs on one output, an endpoint that redirects,
//! floods or lies, files planted where cardscreen writes, absurd input, a reader that goes
//! away, a damaged journal, a full disk and a lost terminal (the streams and the machine in
//! `hostile_streams`). Stand-in endpoints are a few lines of hyper here; everything else is
//! the real binary against the real simulator.

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};

use crate::common::*;

type Answer = Response<UnsyncBoxBody<Bytes, Infallible>>;

/// A stand-in for the vendor on a loopback port: every call is answered by `answer(call
/// number, card)`. It counts the calls it gets and stops when dropped.
pub(crate) struct StandIn {
    addr: SocketAddr,
    calls: Arc<AtomicU64>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl StandIn {
    fn start(answer: impl Fn(u64, &str) -> Answer + Send + Sync + 'static) -> StandIn {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let calls = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let answer = Arc::new(answer);
        let counted = Arc::clone(&calls);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let accept = async {
                    while let Ok((stream, _)) = listener.accept().await {
                        let (answer, calls) = (Arc::clone(&answer), Arc::clone(&counted));
                        let service = hyper::service::service_fn(move |call: Request<Incoming>| {
                            let (answer, calls) = (Arc::clone(&answer), Arc::clone(&calls));
                            async move {
                                let body = call.into_body().collect().await;
                                let body = body.map(|b| b.to_bytes()).unwrap_or_default();
                                let card = form_urlencoded::parse(&body)
                                    .find(|(name, _)| name == "bankcard")
                                    .map(|(_, value)| value.into_owned())
                                    .unwrap_or_default();
                                let number = calls.fetch_add(1, Ordering::SeqCst);
                                Ok::<_, Infallible>(answer(number, &card))
                            }
                        });
                        tokio::spawn(
                            hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                        );
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
        });
        StandIn {
            addr,
            calls,
            _stop: stop,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}/bankcardblack/query", self.addr)
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

pub(crate) fn respond(status: u16, body: impl Into<Bytes>) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body.into()).boxed_unsync())
        .expect("response")
}

/// The vendor's success answer with `orderid`, as JSON text.
pub(crate) fn success(orderid: &str) -> String {
    serde_json::json!({
        "reason": "查询成功",
        "result": {
            "data": {
                "onlineBlack": "0", "offlineBlack": "0", "badCardHolder": "0",
                "fraudTrans": "0", "otherBlack": "0", "caseRelated": "0"
            },
            "orderid": orderid
        },
        "error_code": 0
    })
    .to_string()
}

/// A `screen` command against a stand-in, with quick retries.
pub(crate) fn screen_at(endpoint: &str, input: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("screen")
        .arg(input)
        .args(["--endpoint", endpoint, "--rate", "0", "--concurrency", "4"])
        .args(["--backoff-base", "1ms", "--backoff-max", "5ms"])
        .args(["--progress", "never", "--max-attempts", "2"])
        .args(extra)
        .env("JUHE_KEY", KEY)
        .env_remove("RUST_LOG");
    cmd
}

/// How a measured child ended: exit code (-1 for a signal), stderr (its first 64 KiB) and
/// stderr's full length, and the peak resident memory of the process in KiB.
pub(crate) struct Measured {
    pub(crate) code: i32,
    pub(crate) stderr: String,
    pub(crate) stderr_len: usize,
    pub(crate) peak_kib: u64,
}

/// Runs `cmd` to its end and measures it. The peak is the child's own `VmHWM`, read while it
/// runs (a high-water mark, so the last reading is the peak up to then); `wait4`'s
/// `ru_maxrss` would not do, as it counts the test process's memory from before the exec.
pub(crate) fn run_measured(cmd: &mut Command, stdin: Stdio) -> Measured {
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cardscreen");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let (mut kept, mut total, mut buffer) = (Vec::new(), 0, vec![0u8; 64 * 1024]);
        while let Ok(n) = stderr.read(&mut buffer) {
            if n == 0 {
                break;
            }
            total += n;
            let room = (64 * 1024usize).saturating_sub(kept.len());
            kept.extend_from_slice(&buffer[..n.min(room)]);
        }
        (String::from_utf8_lossy(&kept).into_owned(), total)
    });
    let status_file = format!("/proc/{}/status", child.id());
    // Until the child is a zombie (no memory left to report), which it stays until waited for:
    // so its pid cannot be another process's while this reads.
    let watcher = std::thread::spawn(move || {
        let mut peak = 0;
        while let Some(hwm) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|status| vm_hwm_kib(&status))
        {
            peak = peak.max(hwm);
            std::thread::sleep(Duration::from_millis(2));
        }
        peak
    });
    let peak_kib = watcher.join().expect("memory watcher");
    let status = child.wait().expect("wait for cardscreen");
    let (stderr, stderr_len) = reader.join().expect("stderr reader");
    Measured {
        code: status.code().unwrap_or(-1),
        stderr,
        stderr_len,
        peak_kib,
    }
}

/// `VmHWM` from a `/proc/PID/status` text.
pub(crate) fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A run of cardscreen peaks far below this (about 15 MiB for a small file); holding one big
/// answer or one huge line would take it far above.
pub(crate) const PEAK_BOUND_KIB: u64 = 48 * 1024;

#[test]
fn a_second_run_on_the_same_output_is_refused_at_once() {
    let slow = Simulator::start(&["--latency", "30ms"]);
    let other = Simulator::start(&[]);
    let work = Workdir::new();
    let all = cards(300, 50);
    let input = work.write("cards.csv", card_csv(&all));
    let expected = reference(&work, &input);
    let out = work.path("out.csv");
    let out_arg = out.to_str().unwrap();
    let first = spawn(&mut screen(
        &slow,
        &input,
        &["-o", out_arg, "--resume", "--rate", "40"],
    ));
    wait_for_calls(&slow, 20);
    let screen = || Screen::new(&other).work(&work).input(&input);
    for mode in ["--resume", "--fresh", "--retry-errors"] {
        let second = screen().arg(mode).run();
        let owner = format!(
            "another cardscreen run (pid {}) is writing {out_arg}",
            first.id()
        );
        assert_refused(&second, &owner);
    }
    assert_eq!(other.calls(), 0, "a refused run calls nothing");
    // A run on another output is not held up.
    let beside = screen().output("elsewhere.csv").arg("--resume").run();
    beside.ok();
    assert_eq!(beside.calls, 300);
    assert_eq!(beside.rows.len(), 300);
    let (code_seen, err) = finish(first, Duration::from_secs(60));
    assert_eq!(code_seen, 0, "{err}");
    assert_eq!(without_orderid(&out), expected);
    assert_eq!(paid_twice(&slow), Vec::<String>::new());
    assert!(
        !work.path("out.csv.lock").exists(),
        "a finished run leaves no lock file"
    );
}

#[test]
fn redirects_are_never_followed() {
    let catcher = StandIn::start(|_, _| respond(200, success("JH7190000000000000000001")));
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(2, 51)));
    for status in [301u16, 302, 303, 307, 308] {
        let location = format!("http://localhost:{}/steal", catcher.addr.port());
        let redirector = StandIn::start(move |_, _| {
            Response::builder()
                .status(status)
                .header("location", location.as_str())
                .body(Full::new(Bytes::new()).boxed_unsync())
                .expect("response")
        });
        let out = work.path(&format!("out-{status}.csv"));
        let result = run(screen_at(
            &redirector.endpoint(),
            &input,
            &["-o", out.to_str().unwrap()],
        ));
        assert_eq!(code(&result), 3, "{status}: {}", stderr(&result));
        let (header, rows) = read_csv(&out);
        for (state, error) in column(&header, &rows, "status")
            .iter()
            .zip(column(&header, &rows, "error"))
        {
            assert_eq!(state, "error");
            assert!(
                error.contains(&status.to_string()) && error.contains("localhost"),
                "the error names the status and the Location host: {error}"
            );
        }
        assert_eq!(column(&header, &rows, "attempts"), ["2", "2"], "retried");
        assert_eq!(redirector.calls(), 4);
    }
    assert_eq!(catcher.calls(), 0, "no call reached the redirect's host");
}

/// A body that never ends: 64 KiB every millisecond.
struct Endless(tokio::time::Interval);

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];
        match self.0.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK))))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[test]
fn answers_larger_than_64_kib_are_refused_and_memory_stays_flat() {
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(4, 52)));
    let huge = Bytes::from(vec![b' '; 60 * 1024 * 1024]);
    let sixty_mb = StandIn::start(move |_, _| respond(200, huge.clone()));
    let endless = StandIn::start(|_, _| {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Response::builder()
            .status(200)
            .body(Endless(tick).boxed_unsync())
            .expect("response")
    });
    for (name, server) in [("60 MB", &sixty_mb), ("endless", &endless)] {
        let out = work.path("out.csv");
        let measured = run_measured(
            &mut screen_at(
                &server.endpoint(),
                &input,
                &["-o", out.to_str().unwrap(), "--timeout", "2s"],
            ),
            Stdio::null(),
        );
        assert!(
            measured.peak_kib < PEAK_BOUND_KIB,
            "{name}: peak {} KiB",
            measured.peak_kib
        );
        assert_eq!(measured.code, 3, "{name}: {}", measured.stderr);
        let (header, rows) = read_csv(&out);
        for error in column(&header, &rows, "error") {
            assert!(
                error.starts_with("answer larger than 64 KiB"),
                "{name}: {error}"
            );
        }
    }
    // An answer padded to just under the limit is still an answer.
    let padded = format!(
        "{}{}",
        success("JH7190000000000000000002"),
        " ".repeat(60_000)
    );
    let roomy = StandIn::start(move |_, _| respond(200, padded.clone()));
    let out = work.path("roomy.csv");
    let result = run(screen_at(
        &roomy.endpoint(),
        &input,
        &["-o", out.to_str().unwrap()],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
}

#[test]
fn orderids_that_are_not_letters_and_digits_are_not_trusted() {
    let all = cards(5, 53);
    let unknown = all[4].clone();
    let formulas = [
        "=cmd|' /C calc'!A0",
        "+HYPERLINK(\"http://evil.example\",\"x\")",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "JH719\t=1+1",
    ];
    let liar = StandIn::start(move |call, card| {
        if card == unknown {
            let reason = "=HYPERLINK(\"http://evil.example\")\u{7}\r\n@x";
            let body = serde_json::json!({"reason": reason, "result": null, "error_code": 99999});
            return respond(200, body.to_string());
        }
        respond(200, success(formulas[call as usize % formulas.len()]))
    });
    let work = Workdir::new();
    let mut text = String::from("id,card,note\n");
    let notes = ["=1+1", "+HYPERLINK(\"x\")", "-2+3", "@SUM(A1)", "\tplain"];
    for (i, card) in all.iter().enumerate() {
        text.push_str(&format!(
            "{},{card},\"{}\"\n",
            i + 1,
            notes[i].replace('"', "\"\"")
        ));
    }
    let input = work.write("cards.csv", text);
    let out = work.path("out.csv");
    let result = run(screen_at(
        &liar.endpoint(),
        &input,
        &["-o", out.to_str().unwrap()],
    ));
    assert_eq!(code(&result), 3, "{}", stderr(&result));
    let (header, rows) = read_csv(&out);
    assert_eq!(
        column(&header, &rows, "note"),
        notes,
        "input cells unchanged"
    );
    assert!(column(&header, &rows, "orderid")
        .iter()
        .all(String::is_empty));
    let errors = column(&header, &rows, "error");
    for error in &errors[..4] {
        assert!(error.starts_with("unexpected orderid"), "{error}");
    }
    assert!(errors[4].contains("99999"), "{}", errors[4]);
    for error in &errors {
        assert!(
            error.starts_with(char::is_alphabetic),
            "an error starts with a letter: {error:?}"
        );
        assert!(!error.contains(char::is_control), "{error:?}");
    }
}

/// A file planted before the run, and what the run must do about it.
enum Plant {
    /// A symlink to a victim file: refused, exit 2 naming the path, the victim unchanged.
    Symlink,
    /// A hard link to a victim file: replaced by a fresh file, the victim unchanged.
    HardLink,
}

#[test]
fn planted_links_are_never_written_through() {
    let cases = [
        ("out.csv.partial", Plant::Symlink, &[][..]),
        ("out.csv.journal.tmp", Plant::Symlink, &[]),
        ("summary.json.tmp", Plant::Symlink, &[]),
        ("out.csv.lock", Plant::Symlink, &[]),
        ("out.csv.journal", Plant::Symlink, &["--resume"]),
        ("out.csv.partial", Plant::HardLink, &[]),
        ("out.csv.journal.tmp", Plant::HardLink, &[]),
    ];
    for (name, plant, extra) in cases {
        let sim = Simulator::start(&[]);
        let work = Workdir::new();
        let input = work.write("cards.csv", card_csv(&cards(20, 54)));
        let victim = work.write("victim.txt", "precious\n");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let planted = work.path(name);
        match plant {
            Plant::Symlink => std::os::unix::fs::symlink(&victim, &planted).unwrap(),
            Plant::HardLink => std::fs::hard_link(&victim, &planted).unwrap(),
        }
        let result = Screen::new(&sim)
            .work(&work)
            .input(&input)
            .arg("--summary")
            .arg(work.path("summary.json"))
            .args(extra)
            .run();
        match plant {
            Plant::Symlink => assert_refused(&result, planted.to_str().unwrap()),
            Plant::HardLink => assert_eq!(result.code, 0, "{name}: {}", result.stderr),
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n", "{name}");
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "{name}");
    }
}

#[test]
fn stale_world_writable_files_never_make_a_readable_output() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(20, 55)));
    for stale in ["out.csv.partial", "out.csv.journal.tmp", "summary.json.tmp"] {
        let path = work.write(stale, "stale junk\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let summary = work.path("summary.json");
    let result = Screen::new(&sim)
        .work(&work)
        .input(&input)
        .arg("--summary")
        .arg(&summary)
        .run();
    result.ok();
    for written in [result.out(), &summary] {
        let mode = std::fs::metadata(written).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", written.display());
    }
    assert_eq!(result.rows.len(), 20);
    assert_eq!(
        files_in(work.dir.path()),
        ["cards.csv", "out.csv", "summary.json"]
    );
}

#[test]
fn a_row_longer_than_the_header_is_invalid_and_keeps_its_cells() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let all = cards(3, 56);
    let text = format!(
        "id,bankcard\n1,{},extra\n2,{}\n3,{},x,\"y, z\"\n",
        all[0], all[1], all[2]
    );
    let summary = work.path("summary.json");
    let result = Screen::new(&sim)
        .work(&work)
        .csv(text)
        .arg("--summary")
        .arg(&summary)
        .run();
    result.ok();
    let bytes = std::fs::read(result.out()).unwrap();
    assert!(bytes.starts_with(header_line(&["id", "bankcard"], ',').as_bytes()));
    let (header, rows) = (&result.header, &result.rows);
    assert!(rows.iter().all(|row| row.len() == header.len()), "{rows:?}");
    assert_eq!(
        column(header, rows, "bankcard"),
        [
            format!("{},extra", all[0]),
            all[1].clone(),
            format!("{},x,\"y, z\"", all[2])
        ]
    );
    assert_eq!(column(header, rows, "status"), ["invalid", "ok", "invalid"]);
    let errors = column(header, rows, "error");
    assert!(
        errors[0].contains("3 fields") && errors[0].contains("2"),
        "{}",
        errors[0]
    );
    assert!(errors[2].contains("4 fields"), "{}", errors[2]);
    assert_eq!(sim.per_card(), called_once(&[all[1].as_str()]));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["invalid_by_reason"]["too_many_fields"], 2);
}
