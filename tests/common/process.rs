//! The binary as a process: a `screen` command, running it, interrupting it.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use super::{card_csv, cards, paid_twice, wait_for_calls, without_orderid, Simulator, Workdir};
use super::{BIN, KEY};

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

/// Spawns a command with piped stderr, for runs that are interrupted.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cardscreen")
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
