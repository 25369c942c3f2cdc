//! Hold under hostile conditions: overlapping runs on one output, an endpoint that redirects,
//! floods or lies, files planted where cardscreen writes, absurd input, a reader that goes
//! away, a damaged journal, a full disk and a lost terminal. Stand-in endpoints are a few
//! lines of hyper here; everything else is the real binary against the real simulator.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
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
struct StandIn {
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

fn respond(status: u16, body: impl Into<Bytes>) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body.into()).boxed_unsync())
        .expect("response")
}

/// The vendor's success answer with `orderid`, as JSON text.
fn success(orderid: &str) -> String {
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
fn screen_at(endpoint: &str, input: &Path, extra: &[&str]) -> Command {
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
struct Measured {
    code: i32,
    stderr: String,
    stderr_len: usize,
    peak_kib: u64,
}

/// Runs `cmd` to its end and measures it. The peak is the child's own `VmHWM`, read while it
/// runs (a high-water mark, so the last reading is the peak up to then); `wait4`'s
/// `ru_maxrss` would not do, as it counts the test process's memory from before the exec.
fn run_measured(cmd: &mut Command, stdin: Stdio) -> Measured {
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
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A run of cardscreen peaks far below this (about 15 MiB for a small file); holding one big
/// answer or one huge line would take it far above.
const PEAK_BOUND_KIB: u64 = 48 * 1024;

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
    for mode in ["--resume", "--fresh", "--retry-errors"] {
        let second = run(screen(&other, &input, &["-o", out_arg, mode]));
        let message = stderr(&second);
        assert_eq!(code(&second), 2, "{mode}: {message}");
        let owner = format!(
            "another cardscreen run (pid {}) is writing {out_arg}",
            first.id()
        );
        assert!(message.contains(&owner), "{mode}: {message}");
    }
    assert_eq!(other.calls(), 0, "a refused run calls nothing");
    // A run on another output is not held up.
    let elsewhere = work.path("elsewhere.csv");
    let beside = run(screen(
        &other,
        &input,
        &["-o", elsewhere.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(code(&beside), 0, "{}", stderr(&beside));
    assert_eq!(other.calls(), 300);
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
        let out = work.path("out.csv");
        let summary = work.path("summary.json");
        let mut args = vec![
            "-o",
            out.to_str().unwrap(),
            "--summary",
            summary.to_str().unwrap(),
        ];
        args.extend(extra);
        let result = run(screen(&sim, &input, &args));
        let message = stderr(&result);
        match plant {
            Plant::Symlink => {
                assert_eq!(code(&result), 2, "{name}: {message}");
                assert!(
                    message.contains(planted.to_str().unwrap()),
                    "{name}: {message}"
                );
                assert_eq!(sim.calls(), 0, "{name}: refused before any call");
            }
            Plant::HardLink => assert_eq!(code(&result), 0, "{name}: {message}"),
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
    let out = work.path("out.csv");
    let summary = work.path("summary.json");
    let result = run(screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--summary",
            summary.to_str().unwrap(),
        ],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    for written in [&out, &summary] {
        let mode = std::fs::metadata(written).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", written.display());
    }
    let (_, rows) = read_csv(&out);
    assert_eq!(rows.len(), 20);
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
    let input = work.write("cards.csv", text);
    let out = work.path("out.csv");
    let summary = work.path("summary.json");
    let result = run(screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--summary",
            summary.to_str().unwrap(),
        ],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(header_line(&["id", "bankcard"], ',').as_bytes()));
    let (header, rows) = read_csv(&out);
    assert!(rows.iter().all(|row| row.len() == header.len()), "{rows:?}");
    assert_eq!(
        column(&header, &rows, "bankcard"),
        [
            format!("{},extra", all[0]),
            all[1].clone(),
            format!("{},x,\"y, z\"", all[2])
        ]
    );
    assert_eq!(
        column(&header, &rows, "status"),
        ["invalid", "ok", "invalid"]
    );
    let errors = column(&header, &rows, "error");
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

/// Writes zeros to `child`'s stdin until it stops reading (at most `limit` bytes), like
/// `- < /dev/zero` with a bound, so that a run that never stops cannot fill the machine.
fn feed_zeros(stdin: std::process::ChildStdin, limit: usize) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut stdin = stdin;
        let zeros = vec![0u8; 64 * 1024];
        let mut written = 0;
        while written < limit && stdin.write_all(&zeros).is_ok() {
            written += zeros.len();
        }
        written
    })
}

#[test]
fn a_huge_line_is_refused_with_bounded_stderr_and_memory() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    // 64 MiB of NUL bytes, sparse on disk.
    let zeros = work.path("zeros.csv");
    std::fs::File::create(&zeros)
        .unwrap()
        .set_len(64 * 1024 * 1024)
        .unwrap();
    let measured = run_measured(&mut screen(&sim, &zeros, &[]), Stdio::null());
    assert_eq!(measured.code, 2, "{}", measured.stderr);
    assert!(
        measured
            .stderr
            .contains("line 1 is longer than 1 MiB — is this a CSV file?"),
        "{}",
        measured.stderr
    );
    assert!(
        measured.stderr_len < 1000,
        "stderr of {} bytes",
        measured.stderr_len
    );
    assert!(
        measured.peak_kib < PEAK_BOUND_KIB,
        "peak {} KiB",
        measured.peak_kib
    );

    // The same from a stream that never ends.
    let mut cmd = screen(&sim, Path::new("-"), &[]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let writer = feed_zeros(child.stdin.take().unwrap(), 256 * 1024 * 1024);
    let (code_seen, err) = finish(child, Duration::from_secs(60));
    let fed = writer.join().unwrap();
    assert_eq!(code_seen, 2, "{}", &err[..err.len().min(500)]);
    assert!(
        err.contains("line 1 is longer than 1 MiB"),
        "{}",
        &err[..err.len().min(500)]
    );
    assert!(err.len() < 1000, "stderr of {} bytes", err.len());
    assert!(
        fed < 64 * 1024 * 1024,
        "read {fed} bytes of an endless stream"
    );

    // A record that runs on over quoted newlines is a record too.
    let mut text = String::from("id,card\n1,\"");
    text.push_str(&"a\n".repeat(600_000));
    text.push_str("\"\n");
    let quoted = work.write("quoted.csv", text);
    let result = run(screen(&sim, &quoted, &[]));
    assert_eq!(code(&result), 2, "{}", stderr(&result));
    assert!(
        stderr(&result).contains("line 2 is longer than 1 MiB"),
        "{}",
        stderr(&result)
    );
    assert_eq!(sim.calls(), 0);
}

#[test]
fn long_but_sane_input_is_read_and_quoted_input_is_cut_in_messages() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    // A 900 KiB cell, quotes inside unquoted cells, and old Mac line ends: all fine.
    let all = cards(3, 57);
    let text = format!(
        "id,card,note\r1,{},\"{}\"\r2,{},5\" floppy\r3,{},a \"quoted\" word\r",
        all[0],
        "x".repeat(900 * 1024),
        all[1],
        all[2]
    );
    let input = work.write("long.csv", text);
    let out = work.path("out.csv");
    let result = run(screen(&sim, &input, &["-o", out.to_str().unwrap()]));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = read_csv(&out);
    assert_eq!(column(&header, &rows, "status"), ["ok", "ok", "ok"]);

    // A header that names no card column is quoted cut short, control bytes escaped.
    let header_line = format!("id,name\u{1b}[31m{}\n1,2\n", "y".repeat(300_000));
    let input = work.write("noisy.csv", header_line);
    let result = run(screen(&sim, &input, &[]));
    let message = stderr(&result);
    assert_eq!(code(&result), 2, "{}", &message[..message.len().min(500)]);
    assert!(message.len() < 1000, "stderr of {} bytes", message.len());
    assert!(!message.contains('\u{1b}'), "{message}");
    assert!(message.contains("\\u{1b}[31m"), "{message}");
}

#[test]
fn a_closed_output_pipe_stops_calling_and_exits_4() {
    // Calls slow enough that the reader has closed the pipe long before a batch is full.
    let sim = Simulator::start(&["--latency", "50ms"]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(3000, 58)));
    let mut child = screen(&sim, &input, &["-o", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cardscreen");
    let mut first = String::new();
    {
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        std::io::BufRead::read_line(&mut stdout, &mut first).expect("first line");
        // Dropping the reader closes the pipe, like `| head -1`.
    }
    let (code_seen, err) = finish(child, Duration::from_secs(60));
    assert_eq!(first, header_line(&["id", "card"], ','));
    assert_eq!(code_seen, 4, "{err}");
    assert!(err.contains("output closed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let calls = sim.calls();
    assert!(calls <= 8 + 64, "{calls} calls after the reader went away");
}

#[test]
fn a_damaged_journal_record_is_dropped_and_its_card_asked_again() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let all = cards(60, 59);
    let input = work.write("cards.csv", card_csv(&all));
    let expected = reference(&work, &input);
    let out = work.path("out.csv");
    let out_arg = out.to_str().unwrap();
    let first = run(screen(&sim, &input, &["-o", out_arg, "--max-calls", "30"]));
    assert_eq!(code(&first), 5, "{}", stderr(&first));
    let journal = work.path("out.csv.journal");
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Line 3 is the first record: its flags out of range; line 5 gets a status nobody writes.
    let mut fields: Vec<&str> = lines[2].split('\t').collect();
    fields[2] = "64";
    lines[2] = fields.join("\t");
    let mut fields: Vec<&str> = lines[4].split('\t').collect();
    fields[1] = "okay";
    lines[4] = fields.join("\t");
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();

    let second = run(screen(&sim, &input, &["-o", out_arg, "--resume"]));
    let message = stderr(&second);
    assert_eq!(code(&second), 0, "{message}");
    assert!(
        message.contains("line=3") && message.contains("line=5"),
        "{message}"
    );
    assert!(
        !message.contains("write"),
        "a read is not a write: {message}"
    );
    assert_eq!(without_orderid(&out), expected);
    assert_eq!(sim.calls(), 60 + 2, "the two damaged cards are asked again");
}

#[test]
fn a_summary_that_cannot_be_written_is_a_warning_that_keeps_the_exit_code() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(30, 60)));
    let out = work.path("out.csv");
    // A directory where the summary should go: found only when it is written, at the end.
    let summary = work.path("summary.json");
    std::fs::create_dir(&summary).unwrap();
    let result = run(screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--summary",
            summary.to_str().unwrap(),
        ],
    ));
    let message = stderr(&result);
    assert_eq!(code(&result), 0, "{message}");
    assert!(message.contains(summary.to_str().unwrap()), "{message}");
    let (_, rows) = read_csv(&out);
    assert_eq!(rows.len(), 30);
    assert!(!work.path("out.csv.journal").exists());
}

#[test]
fn sighup_saves_progress_like_sigterm() {
    interrupt_then_resume(libc::SIGHUP, 143);
}

/// Limits every file `cmd` writes to `bytes`: a write past it fails with EFBIG (cardscreen
/// ignores SIGXFSZ), as one on a full disk fails with ENOSPC.
fn limit_file_size(cmd: &mut Command, bytes: u64) {
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_full_disk_stops_with_exit_4_and_resume_pays_nothing_twice() {
    let sim = Simulator::start(&["--latency", "5ms"]);
    let work = Workdir::new();
    let mut text = String::from("id,card,note\n");
    for (i, card) in cards(1500, 61).iter().enumerate() {
        text.push_str(&format!("{i},{card},{}\n", "n".repeat(400)));
    }
    let input = work.write("cards.csv", text);
    let expected = reference(&work, &input);
    let out = work.path("out.csv");
    // The output of this wide file reaches 256 KiB long before the journal does, as a small
    // disk fills under it.
    let mut cmd = screen(&sim, &input, &["-o", out.to_str().unwrap()]);
    limit_file_size(&mut cmd, 256 * 1024);
    let full = run(&mut cmd);
    let message = stderr(&full);
    assert_eq!(code(&full), 4, "{message}");
    assert!(
        message.contains("disk full: the output") && message.contains("--resume"),
        "{message}"
    );
    assert!(
        !work.path("out.csv.partial").exists(),
        "the partial output is removed"
    );
    assert!(work.path("out.csv.journal").exists());

    let resumed = run(screen(
        &sim,
        &input,
        &["-o", out.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));
    assert_eq!(without_orderid(&out), expected);
    assert_eq!(paid_twice(&sim), Vec::<String>::new(), "no answer was lost");

    // To standard output only the journal (an unnamed file) can fill: it stops the same way.
    let mut cmd = screen(&sim, &input, &["-o", "-"]);
    limit_file_size(&mut cmd, 32 * 1024);
    let full = run(&mut cmd);
    let message = stderr(&full);
    assert_eq!(code(&full), 4, "{message}");
    assert!(message.contains("disk full: the journal"), "{message}");
}
