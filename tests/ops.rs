//! What a bank's operations need: a refused key costs one call however wide the pool (and a
//! pool whose first rows need no call still opens); the key from a file or a systemd
//! credential, and a blank key from any source refused before any call; a TLS-inspecting
//! proxy's CA trusted through --ca-cert or SSL_CERT_FILE, and refused at the first call without;
//! --metrics files that parse as Prometheus text whenever read and agree with the summary;
//! completion scripts and the man page that name every flag.

use crate::common::*;

#[test]
fn a_wrong_key_costs_exactly_one_call_at_concurrency_16() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(500, 130)));
    let out = work.path("out.csv");
    let summary = work.path("summary.json");
    let mut cmd = screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--concurrency",
            "16",
            "--rate",
            "0",
            "--summary",
            summary.to_str().unwrap(),
        ],
    );
    cmd.env("JUHE_KEY", "wrong-key");
    let result = run(&mut cmd);
    assert_eq!(code(&result), 4, "{}", stderr(&result));
    assert_eq!(sim.calls(), 1, "{}", sim.stats());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["calls"], 1, "{summary}");
    assert!(stderr(&result).contains("10001"), "{}", stderr(&result));
}

#[test]
fn a_file_that_starts_with_rows_needing_no_call_still_opens_the_pool() {
    let sim = Simulator::start(&["--timeout-rate", "0.5", "--seed", "3"]);
    let work = Workdir::new();
    let all = cards(60, 131);
    // An invalid card, then the same card twice: the first call is the third row's.
    let mut text = format!("id,card\n1,12345\n2,{}\n3,{}\n", all[0], all[0]);
    for (i, card) in all.iter().enumerate().skip(1) {
        text.push_str(&format!("{},{card}\n", i + 3));
    }
    let input = work.write("cards.csv", text);
    let out = work.path("out.csv");
    let result = run(screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--concurrency",
            "16",
            "--max-attempts",
            "30",
        ],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = read_csv(&out);
    let status = column(&header, &rows, "status");
    assert_eq!(status[0], "invalid");
    assert!(status[1..].iter().all(|s| s == "ok"), "{status:?}");
    assert!(paid_twice(&sim).is_empty(), "{}", sim.stats());
    assert!(sim.stats()["by_code"]["271901"].as_u64().unwrap() > 0);
}

#[cfg(unix)]
#[test]
fn a_key_file_wins_and_a_readable_one_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(5, 132)));
    let key_file = work.write("juhe.key", format!("  {KEY}\n"));
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = work.path("out.csv");
    let mut cmd = screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--key-file",
            key_file.to_str().unwrap(),
        ],
    );
    // The file comes first: a wrong key in the environment is not used.
    cmd.env("JUHE_KEY", "wrong-key");
    let result = run(&mut cmd);
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let log = stderr(&result);
    assert!(
        log.contains("juhe.key") && log.contains("chmod 600"),
        "{log}"
    );
    assert!(!log.contains(KEY), "the key leaked: {log}");
    assert_eq!(sim.calls(), 5);

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(&out).unwrap();
    let quiet = run(&mut cmd);
    assert_eq!(code(&quiet), 0, "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("chmod"), "{}", stderr(&quiet));
}

#[test]
fn an_empty_key_from_any_source_is_exit_2_before_any_call() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(3, 133)));
    work.write("empty.key", "\n");
    let credentials = work.path("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("JUHE_KEY"), " \n").unwrap();
    work.write("blank.toml", "key = \"\"\n");
    type Source = fn(&mut std::process::Command, &Workdir);
    let cases: [(&str, Source, &str); 5] = [
        (
            "--key-file",
            |cmd, work| {
                cmd.arg("--key-file").arg(work.path("empty.key"));
            },
            "--key-file",
        ),
        (
            "--key-env",
            |cmd, _| {
                cmd.args(["--key-env", "RISK_KEY"]).env("RISK_KEY", "");
            },
            "RISK_KEY",
        ),
        (
            "JUHE_KEY",
            |cmd, _| {
                cmd.env("JUHE_KEY", "   ");
            },
            "JUHE_KEY",
        ),
        (
            "credential",
            |cmd, work| {
                cmd.env_remove("JUHE_KEY")
                    .env("CREDENTIALS_DIRECTORY", work.path("credentials"));
            },
            "systemd credential",
        ),
        (
            "config",
            |cmd, work| {
                cmd.env_remove("JUHE_KEY")
                    .arg("--config")
                    .arg(work.path("blank.toml"));
            },
            "`key` in the config file",
        ),
    ];
    for (name, set, named) in cases {
        let out = work.path(&format!("{name}.csv"));
        let mut cmd = screen(&sim, &input, &["-o", out.to_str().unwrap()]);
        set(&mut cmd, &work);
        let result = run(&mut cmd);
        assert_eq!(code(&result), 2, "{name}: {}", stderr(&result));
        let message = stderr(&result);
        assert!(
            message.contains(named) && message.contains("empty"),
            "{name}: {message}"
        );
        assert_eq!(sim.calls(), 0, "{name} made a call");
    }
}

#[test]
fn a_systemd_credential_supplies_the_key() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(4, 134)));
    let credentials = work.path("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("JUHE_KEY"), format!("{KEY}\n")).unwrap();
    let out = work.path("out.csv");
    let mut cmd = screen(&sim, &input, &["-o", out.to_str().unwrap()]);
    cmd.env_remove("JUHE_KEY")
        .env("CREDENTIALS_DIRECTORY", &credentials);
    let result = run(&mut cmd);
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let (header, rows) = read_csv(&out);
    assert!(column(&header, &rows, "status").iter().all(|s| s == "ok"));
    assert_eq!(sim.calls(), 4);
}

/// A CA made for the test, and a certificate it signed for 127.0.0.1 and localhost, as PEM
/// files in `work`.
struct TestCa {
    ca: std::path::PathBuf,
    ca_pem: String,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl TestCa {
    fn new(work: &Workdir) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "cardscreen test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap()
                .signed_by(&server_key, &ca)
                .unwrap();
        TestCa {
            ca: work.write("ca.pem", ca.pem()),
            ca_pem: ca.pem(),
            cert: work.write("server.pem", server.pem()),
            key: work.write("server.key", server_key.serialize_pem()),
        }
    }

    /// A simulator serving HTTPS with the CA's certificate.
    fn simulator(&self) -> Simulator {
        Simulator::start_https(
            &[
                "--tls-cert",
                self.cert.to_str().unwrap(),
                "--tls-key",
                self.key.to_str().unwrap(),
            ],
            &self.ca_pem,
        )
    }
}

/// `screen` against `sim` with no certificates from the environment.
fn screen_tls(sim: &Simulator, input: &std::path::Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = screen(sim, input, extra);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    cmd
}

#[test]
fn an_untrusted_certificate_stops_the_run_at_the_first_call_naming_host_and_ca_cert() {
    let work = Workdir::new();
    let ca = TestCa::new(&work);
    let sim = ca.simulator();
    assert!(sim.endpoint().starts_with("https://127.0.0.1:"));
    let input = work.write("cards.csv", card_csv(&cards(40, 135)));
    let out = work.path("out.csv");
    let summary = work.path("summary.json");
    let result = run(screen_tls(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--concurrency",
            "16",
            "--summary",
            summary.to_str().unwrap(),
        ],
    ));
    assert_eq!(code(&result), 4, "{}", stderr(&result));
    let message = stderr(&result);
    assert!(
        message.contains("certificate of 127.0.0.1 is not trusted")
            && message.contains("--ca-cert"),
        "{message}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(
        summary["calls"], 1,
        "one handshake, then the run stops: {summary}"
    );
    assert_eq!(sim.calls(), 0, "no request got past the handshake");
    assert!(!out.exists());
}

#[test]
fn ca_cert_or_ssl_cert_file_trusts_the_proxys_ca() {
    let work = Workdir::new();
    let ca = TestCa::new(&work);
    let sim = ca.simulator();
    let all = cards(30, 136);
    let input = work.write("cards.csv", card_csv(&all));
    let via_flag = work.path("flag.csv");
    let result = run(screen_tls(
        &sim,
        &input,
        &[
            "-o",
            via_flag.to_str().unwrap(),
            "--ca-cert",
            ca.ca.to_str().unwrap(),
        ],
    ));
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    let via_env = work.path("env.csv");
    let mut cmd = screen_tls(&sim, &input, &["-o", via_env.to_str().unwrap()]);
    cmd.env("SSL_CERT_FILE", &ca.ca);
    let result = run(&mut cmd);
    assert_eq!(code(&result), 0, "{}", stderr(&result));
    for out in [&via_flag, &via_env] {
        let (header, rows) = read_csv(out);
        let status = column(&header, &rows, "status");
        assert_eq!(status.len(), all.len());
        assert!(status.iter().all(|s| s == "ok"), "{status:?}");
    }
    assert_eq!(sim.calls(), 60);
}

#[test]
fn a_ca_cert_that_is_no_certificate_is_exit_2_naming_the_file() {
    let work = Workdir::new();
    let ca = TestCa::new(&work);
    let sim = ca.simulator();
    let input = work.write("cards.csv", card_csv(&cards(3, 137)));
    let out = work.path("out.csv");
    // A private key where the certificate should be: a mistake easily made.
    let result = run(screen_tls(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--ca-cert",
            ca.key.to_str().unwrap(),
        ],
    ));
    assert_eq!(code(&result), 2, "{}", stderr(&result));
    assert!(
        stderr(&result).contains("--ca-cert") && stderr(&result).contains("server.key"),
        "{}",
        stderr(&result)
    );
    let mut cmd = screen_tls(&sim, &input, &["-o", out.to_str().unwrap()]);
    cmd.env("SSL_CERT_FILE", work.path("missing.pem"));
    let result = run(&mut cmd);
    assert_eq!(code(&result), 2, "{}", stderr(&result));
    assert!(
        stderr(&result).contains("SSL_CERT_FILE"),
        "{}",
        stderr(&result)
    );
    assert_eq!(sim.calls(), 0);
}

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
    // Like every file cardscreen writes, owner-only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&metrics_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_metrics_file_that_cannot_be_written_is_exit_2_before_any_call() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(3, 139)));
    let out = work.path("out.csv");
    let metrics = work.path("missing/cardscreen.prom");
    let result = run(screen(
        &sim,
        &input,
        &[
            "-o",
            out.to_str().unwrap(),
            "--metrics",
            metrics.to_str().unwrap(),
        ],
    ));
    assert_eq!(code(&result), 2, "{}", stderr(&result));
    assert!(
        stderr(&result).contains("missing/cardscreen.prom"),
        "{}",
        stderr(&result)
    );
    assert_eq!(sim.calls(), 0);
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
