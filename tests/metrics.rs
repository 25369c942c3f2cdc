//! --metrics files that parse as Prometheus text whenever read and agree with the summary, a
//! metrics file that cannot be written refused before any call, and the completion scripts and
//! the man page naming every flag.

use crate::common::*;

/// One sample of a Prometheus text file: metric name, labels, value.
type PromSample = (String, std::collections::BTreeMap<String, String>, f64);

/// Reads the Prometheus text exposition format strictly: every sample's family announced by
/// `# HELP` and `# TYPE` (counter or gauge) first, labels quoted with escapes, the last line
/// ended. An error says what is wrong, as for a half-written file.
fn parse_prometheus(text: &str) -> Result<Vec<PromSample>, String> {
    if !text.ends_with('\n') {
        return Err("the last line is not ended".into());
    }
    let (mut helped, mut typed) = (Vec::new(), Vec::new());
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').ok_or(format!("bad HELP: {line}"))?;
            if help.is_empty() {
                return Err(format!("empty HELP: {line}"));
            }
            helped.push(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or(format!("bad TYPE: {line}"))?;
            if !matches!(kind, "counter" | "gauge") {
                return Err(format!("unexpected type: {line}"));
            }
            typed.push(name.to_string());
        } else {
            let (name, rest) = line.split_once('{').ok_or(format!("no labels: {line}"))?;
            if !helped.iter().any(|h| h == name) || !typed.iter().any(|t| t == name) {
                return Err(format!("{name} has no HELP or TYPE before it"));
            }
            let (labels, value) = parse_labels(rest).ok_or(format!("bad labels: {line}"))?;
            let value: f64 = value
                .strip_prefix(' ')
                .and_then(|v| v.parse().ok())
                .ok_or(format!("bad value: {line}"))?;
            samples.push((name.to_string(), labels, value));
        }
    }
    Ok(samples)
}

/// `name="value",...}` and what follows the closing brace.
fn parse_labels(text: &str) -> Option<(std::collections::BTreeMap<String, String>, &str)> {
    let mut labels = std::collections::BTreeMap::new();
    let mut rest = text;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    _ => return None,
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.to_string(), value);
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// The value of one sample, by name and (for `cardscreen_rows`) status.
fn value_of(samples: &[PromSample], name: &str, status: Option<&str>) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|(n, labels, _)| n == name && labels.get("status").map(String::as_str) == status)
        .map(|(_, _, v)| *v)
        .collect();
    assert_eq!(found.len(), 1, "{name} {status:?}: {found:?}");
    found[0]
}

const METRIC_NAMES: [&str; 10] = [
    "cardscreen_rows",
    "cardscreen_hits",
    "cardscreen_calls_total",
    "cardscreen_retries_total",
    "cardscreen_throttled_total",
    "cardscreen_reused",
    "cardscreen_run_duration_seconds",
    "cardscreen_run_exit_code",
    "cardscreen_run_complete",
    "cardscreen_last_run_timestamp_seconds",
];

#[test]
fn metrics_are_whole_prometheus_files_that_agree_with_the_summary() {
    let sim = Simulator::start(&["--latency", "8ms", "--timeout-rate", "0.1", "--seed", "5"]);
    let work = Workdir::new();
    let all = cards(300, 138);
    let mut text = card_csv(&all);
    text.push_str(&format!("301,12345\n302,{}\n303,6.22848E+18\n", all[0]));
    let input = work.write("cards.csv", text);
    let out = work.path("out.csv");
    let summary_path = work.path("summary.json");
    let metrics_path = work.path("cardscreen.prom");
    // Rewritten every 5 ms over a run of about a second (300 calls of 8 ms, 4 at a time), so
    // the reader below meets many rewrites.
    let config = work.write("fast.toml", "progress_interval = \"5ms\"\n");
    let mut cmd = screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--concurrency",
            "4",
            "--max-attempts",
            "20",
            "--summary",
            summary_path.to_str().unwrap(),
            "--metrics",
            metrics_path.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );

    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reader = {
        let (running, path) = (std::sync::Arc::clone(&running), metrics_path.clone());
        std::thread::spawn(move || {
            let mut exit_codes = std::collections::BTreeSet::new();
            let mut reads = 0;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    let samples = parse_prometheus(&text)
                        .unwrap_or_else(|e| panic!("a read saw a broken file ({e}):\n{text}"));
                    for name in METRIC_NAMES {
                        assert!(samples.iter().any(|(n, _, _)| n == name), "{name}:\n{text}");
                    }
                    exit_codes.insert(value_of(&samples, "cardscreen_run_exit_code", None) as i64);
                    reads += 1;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            (exit_codes, reads)
        })
    };
    let (exit_code, log) = finish(spawn(&mut cmd), std::time::Duration::from_secs(60));
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let (exit_codes, reads) = reader.join().expect("reader thread");
    assert_eq!(exit_code, 0, "{log}");
    assert!(reads > 1, "the reader should have seen the run under way");
    assert!(
        exit_codes.contains(&-1),
        "never saw the run under way: {exit_codes:?}"
    );

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    let samples = parse_prometheus(&std::fs::read_to_string(&metrics_path).unwrap()).unwrap();
    assert!(samples.iter().all(
        |(_, labels, _)| labels.get("output").map(String::as_str) == summary["output"].as_str()
    ));
    let number = |field: &str| summary[field].as_f64().unwrap();
    for (name, status, field) in [
        ("cardscreen_rows", Some("ok"), "ok"),
        ("cardscreen_rows", Some("invalid"), "invalid"),
        ("cardscreen_rows", Some("error"), "errors"),
        ("cardscreen_hits", None, "hits"),
        ("cardscreen_calls_total", None, "calls"),
        ("cardscreen_retries_total", None, "retries"),
        ("cardscreen_throttled_total", None, "throttled"),
        ("cardscreen_run_duration_seconds", None, "elapsed_seconds"),
        ("cardscreen_run_exit_code", None, "exit_code"),
    ] {
        assert_eq!(
            value_of(&samples, name, status),
            number(field),
            "{name} {status:?}"
        );
    }
    assert_eq!(value_of(&samples, "cardscreen_run_complete", None), 1.0);
    assert_eq!(value_of(&samples, "cardscreen_reused", None), 0.0);
    assert!(number("retries") > 0.0 && number("invalid") == 2.0 && number("hits") > 0.0);
    let written = value_of(&samples, "cardscreen_last_run_timestamp_seconds", None);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        written <= now && written > now - 600.0,
        "{written} vs {now}"
    );
    assert!(!files_in(work.dir.path())
        .iter()
        .any(|f| f.ends_with(".tmp")));
    // Unlike the other files cardscreen writes, readable by node_exporter's user.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&metrics_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}

#[test]
fn a_metrics_file_that_cannot_be_written_is_exit_2_before_any_call() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let result = Screen::new(&sim)
        .work(&work)
        .cards(3, 139)
        .arg("--metrics")
        .arg(work.path("missing/cardscreen.prom"))
        .run();
    assert_refused(&result, "missing/cardscreen.prom");
}

/// True when `text` holds `flag` as a whole word (not only as the start of a longer flag).
fn names_flag(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(at, _)| {
        text[at + flag.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    })
}

#[test]
fn completions_and_the_man_page_name_every_screen_flag() {
    use clap::CommandFactory;
    let cli = cardscreen::cli::Cli::command();
    let screen = cli.find_subcommand("screen").expect("screen subcommand");
    let flags: Vec<String> = screen
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .map(|long| format!("--{long}"))
        .collect();
    for flag in ["--ca-cert", "--key-file", "--metrics", "--resume"] {
        assert!(flags.iter().any(|f| f == flag), "{flag} in {flags:?}");
    }
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let result = run(std::process::Command::new(BIN).args(args));
        assert_eq!(code(&result), 0, "{args:?}: {}", stderr(&result));
        // roff writes a hyphen as \-.
        let text = String::from_utf8(result.stdout)
            .unwrap()
            .replace("\\-", "-");
        for flag in &flags {
            assert!(names_flag(&text, flag), "{args:?} does not name {flag}");
        }
    }
    for shell in ["zsh", "fish", "powershell"] {
        let result = run(std::process::Command::new(BIN).args(["completions", shell]));
        assert_eq!(code(&result), 0, "{shell}: {}", stderr(&result));
        // Fish writes long flags without their dashes (`-l ca-cert`).
        assert!(String::from_utf8_lossy(&result.stdout).contains("ca-cert"));
    }
    let unknown = run(std::process::Command::new(BIN).args(["completions", "tcsh"]));
    assert_eq!(code(&unknown), 2);
}
