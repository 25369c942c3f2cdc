//! Hostile input and a hostile machine, second part: endless and huge lines, long quoted input,
//! a closed output pipe, a damaged journal, an unwritable summary, signals and a full disk.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use crate::hostile::*;

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
    let result = Screen::new(&sim).work(&work).input(&input).run();
    result.ok();
    let (header, rows) = (&result.header, &result.rows);
    assert_eq!(column(header, rows, "status"), ["ok", "ok", "ok"]);

    // A header that names no card column is quoted cut short, control bytes escaped.
    let header_line = format!("id,name\u{1b}[31m{}\n1,2\n", "y".repeat(300_000));
    let result = Screen::new(&sim)
        .work(&work)
        .input(&work.write("noisy.csv", header_line))
        .unnamed_output()
        .run();
    let message = &result.stderr;
    assert!(message.len() < 1000, "stderr of {} bytes", message.len());
    assert_refused(&result, "\\u{1b}[31m");
    assert!(!message.contains('\u{1b}'), "{message}");
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
    let screen = || Screen::new(&sim).work(&work).input(&input);
    screen().args(["--max-calls", "30"]).run().exit(5);
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

    let second = screen().arg("--resume").run();
    second.ok();
    let message = &second.stderr;
    assert!(
        message.contains("line=3") && message.contains("line=5"),
        "{message}"
    );
    assert!(
        !message.contains("write"),
        "a read is not a write: {message}"
    );
    assert_eq!(without_orderid(second.out()), expected);
    assert_eq!(sim.calls(), 60 + 2, "the two damaged cards are asked again");
}

#[test]
fn a_summary_that_cannot_be_written_is_a_warning_that_keeps_the_exit_code() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    // A directory where the summary should go: found only when it is written, at the end.
    let summary = work.path("summary.json");
    std::fs::create_dir(&summary).unwrap();
    let result = Screen::new(&sim)
        .work(&work)
        .cards(30, 60)
        .arg("--summary")
        .arg(&summary)
        .run();
    result.ok();
    let message = &result.stderr;
    assert!(message.contains(summary.to_str().unwrap()), "{message}");
    assert_eq!(result.rows.len(), 30);
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

    Screen::new(&sim)
        .work(&work)
        .input(&input)
        .arg("--resume")
        .run()
        .ok();
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
