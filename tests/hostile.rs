//! Hold under hostile conditions: overlapping runs on one output, an endpoint that redirects,
//! floods or lies, files planted where cardscreen writes, absurd input, a reader that goes
//! away, a damaged journal, a full disk and a lost terminal. Stand-in endpoints are a few
//! lines of hyper here; everything else is the real binary against the real simulator.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::*;

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
