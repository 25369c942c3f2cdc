//! Inputs that are not plain files and streams: a missing file, a directory, a named pipe,
//! standard input and output, and a closed output pipe.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

// ---- a missing file, a directory, a named pipe ----

#[test]
fn a_missing_file_is_refused() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let result = Screen::new(&sim)
        .work(&work)
        .input(&work.path("nowhere.csv"))
        .unnamed_output()
        .run();
    assert_refused(&result, "nowhere.csv does not exist");
}

#[test]
fn a_directory_is_refused() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let result = Screen::new(&sim).work(&work).input(work.dir.path()).run();
    assert_refused(&result, "is a directory");
}

#[test]
fn a_pipe_given_as_a_path_is_refused_with_advice() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let fifo = work.path("cards.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    // A writer like `<(zcat cards.csv.gz)`. It stays blocked if nobody opens the pipe, which is
    // what should happen; the thread ends with the test process.
    let writer_path = fifo.clone();
    std::thread::spawn(move || {
        let _ = std::fs::write(writer_path, card_csv(&cards(3, 40)));
    });
    let out = work.path("out.csv");
    let mut child = screen(&sim, &fifo, &["-o", out.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cardscreen");
    // Reading the pipe twice hangs: the second open waits for a writer that has gone. Not a
    // timing check: the limit only turns that hang into a failure.
    let guard = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > guard {
            let _ = child.kill();
            panic!("cardscreen hung on a named pipe");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = child.wait_with_output().expect("wait");
    assert_eq!(code(&result), 2, "{}", stderr(&result));
    let message = stderr(&result);
    assert!(message.contains("not a regular file"), "{message}");
    assert!(message.contains("standard input"), "{message}");
    assert_eq!(sim.calls(), 0);
}

// ---- streams ----

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name),
    )
    .expect("fixture")
}

#[test]
fn stdin_is_screened_to_stdout_by_default() {
    let sim = Simulator::start(&[]);
    let result = run_with_stdin(
        screen(&sim, Path::new("-"), &[]),
        &fixture_bytes("gbk_excel_export.csv"),
    );
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = parse_csv(&result.stdout, b',');
    assert_eq!(&header[..2], ["卡号", "姓名"]);
    assert_eq!(
        column(&header, &rows, "姓名"),
        ["张伟", "王芳", "李娜", "刘洋", "陈静"]
    );
    assert_eq!(column(&header, &rows, "status"), ["ok"; 5]);
    assert_eq!(
        sim.per_card(),
        called_once(&[
            "6228482382480171669",
            "6217003999698830",
            "6222022981719667320",
            "4367422592879865",
            "6225888657563874",
        ])
    );
    // The summary goes to stderr, never into the data.
    assert!(
        stderr(&result).contains("Screened 5 rows"),
        "{}",
        stderr(&result)
    );
}

#[test]
fn stdin_can_be_screened_to_a_file() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let result = Screen::new(&sim)
        .work(&work)
        .input(Path::new("-"))
        .stdin(fixture_bytes("spaces_and_dashes.csv"))
        .run();
    result.ok();
    assert!(result.stdout.is_empty());
    assert_eq!(result.rows.len(), 8);
    assert_eq!(result.column("status"), ["ok"; 8]);
    assert_eq!(sim.per_card().len(), 5);
    assert_eq!(
        files_in(work.dir.path()),
        ["out.csv"],
        "no journal or partial file is left behind"
    );
}

#[test]
fn dash_output_writes_a_file_input_to_stdout() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let result = Screen::new(&sim)
        .work(&work)
        .fixture("letters_in_card.csv")
        .output_to_stdout()
        .run();
    result.ok();
    let (header, rows) = (&result.header, &result.rows);
    let (_, inputs) = read_csv(&result.input);
    assert_eq!(rows.len(), inputs.len());
    for (input, output) in inputs.iter().zip(rows) {
        assert_eq!(&output[..input.len()], &input[..]);
    }
    assert_eq!(
        column(header, rows, "status"),
        ["ok", "invalid", "invalid", "invalid", "invalid", "ok"]
    );
    assert_eq!(
        files_in(work.dir.path()),
        ["letters_in_card.csv"],
        "stdout output leaves no file"
    );
}

#[test]
fn resume_is_refused_when_the_output_is_stdout() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.fixture("utf8_bom.csv");
    for from_stdin in [false, true] {
        let screen = Screen::new(&sim).work(&work).arg("--resume");
        let screen = match from_stdin {
            false => screen.input(&input).output_to_stdout(),
            true => screen
                .input(Path::new("-"))
                .unnamed_output()
                .stdin(fixture_bytes("utf8_bom.csv")),
        };
        let result = screen.run();
        assert_refused(&result, "--resume");
        assert!(
            result.stderr.contains("standard output"),
            "{}",
            result.stderr
        );
        assert!(result.stdout.is_empty());
    }
    assert_eq!(sim.calls(), 0);
}

#[test]
fn a_closed_stdout_pipe_stops_the_run_without_a_panic() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    // Far more output than the pipe and the writer's buffers hold, but only three calls.
    let three = cards(3, 41);
    let mut text = String::from("id,card,note\n");
    for i in 0..30_000 {
        text.push_str(&format!(
            "{i},{},a note long enough to fill pipes quickly\n",
            three[i % 3]
        ));
    }
    let input = work.write("big.csv", text);
    let mut child = screen(&sim, &input, &["-o", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cardscreen");
    let mut first = String::new();
    {
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        stdout.read_line(&mut first).expect("first line");
        // Dropping the reader closes the pipe, like `| head -1`.
    }
    let result = child.wait_with_output().expect("wait");
    assert_eq!(first, header_line(&["id", "card", "note"], ','));
    let message = stderr(&result);
    assert_eq!(code(&result), 4, "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(message.contains("output closed"), "{message}");
    assert!(sim.calls() <= 3);
}
