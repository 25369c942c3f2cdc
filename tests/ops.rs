//! What a bank's operations need: a refused key costs one call however wide the pool (and a
//! pool whose first rows need no call still opens); the key from a file or a systemd
//! credential, and a blank key from any source refused before any call; a TLS-inspecting
//! proxy's CA trusted through --ca-cert or SSL_CERT_FILE, and refused at the first call
//! without. The metrics file, the completions and the man page are in `metrics`.

use crate::common::*;

#[test]
fn a_wrong_key_costs_exactly_one_call_at_concurrency_16() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let summary = work.path("summary.json");
    let result = Screen::new(&sim)
        .work(&work)
        .cards(500, 130)
        .args(["--concurrency", "16", "--rate", "0", "--summary"])
        .arg(&summary)
        .env("JUHE_KEY", "wrong-key")
        .run();
    result.exit(4);
    assert_eq!(result.calls, 1, "{}", sim.stats());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["calls"], 1, "{summary}");
    assert!(result.stderr.contains("10001"), "{}", result.stderr);
}

#[test]
fn a_file_that_starts_with_rows_needing_no_call_still_opens_the_pool() {
    let sim = Simulator::start(&["--timeout-rate", "0.5", "--seed", "3"]);
    let all = cards(60, 131);
    // An invalid card, then the same card twice: the first call is the third row's.
    let mut text = format!("id,card\n1,12345\n2,{}\n3,{}\n", all[0], all[0]);
    for (i, card) in all.iter().enumerate().skip(1) {
        text.push_str(&format!("{},{card}\n", i + 3));
    }
    let result = Screen::new(&sim)
        .csv(text)
        .args(["--concurrency", "16", "--max-attempts", "30"])
        .run();
    result.ok();
    let status = result.column("status");
    assert_eq!(status.len(), 62);
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
    // The file comes first: a wrong key in the environment is not used.
    let screen = || {
        Screen::new(&sim)
            .work(&work)
            .input(&input)
            .arg("--key-file")
            .arg(&key_file)
            .env("JUHE_KEY", "wrong-key")
    };
    let result = screen().run();
    result.ok();
    let log = &result.stderr;
    assert!(
        log.contains("juhe.key") && log.contains("chmod 600"),
        "{log}"
    );
    assert!(!log.contains(KEY), "the key leaked: {log}");
    assert_eq!(result.calls, 5);

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(result.out()).unwrap();
    let quiet = screen().run();
    quiet.ok();
    assert!(!quiet.stderr.contains("chmod"), "{}", quiet.stderr);
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
    type Source = for<'s> fn(Screen<'s>, &Workdir) -> Screen<'s>;
    let cases: [(&str, Source, &str); 5] = [
        (
            "--key-file",
            |run, work| run.arg("--key-file").arg(work.path("empty.key")),
            "--key-file",
        ),
        (
            "--key-env",
            |run, _| run.args(["--key-env", "RISK_KEY"]).env("RISK_KEY", ""),
            "RISK_KEY",
        ),
        ("JUHE_KEY", |run, _| run.env("JUHE_KEY", "   "), "JUHE_KEY"),
        (
            "credential",
            |run, work| {
                run.env_remove("JUHE_KEY")
                    .env("CREDENTIALS_DIRECTORY", work.path("credentials"))
            },
            "systemd credential",
        ),
        (
            "config",
            |run, work| {
                run.env_remove("JUHE_KEY")
                    .arg("--config")
                    .arg(work.path("blank.toml"))
            },
            "`key` in the config file",
        ),
    ];
    for (name, set, named) in cases {
        let run = Screen::new(&sim)
            .work(&work)
            .input(&input)
            .output(&format!("{name}.csv"));
        let result = set(run, &work).run();
        assert_refused(&result, named);
        assert!(result.stderr.contains("empty"), "{name}: {}", result.stderr);
        assert!(!result.out().exists(), "{name} wrote an output");
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
    let result = Screen::new(&sim)
        .work(&work)
        .input(&input)
        .env_remove("JUHE_KEY")
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .run();
    result.ok().all_ok();
    assert_eq!(result.rows.len(), 4);
    assert_eq!(result.calls, 4);
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

/// `screen` against `sim` in `work` with no certificates from the environment.
fn screen_tls<'s>(sim: &'s Simulator, work: &Workdir) -> Screen<'s> {
    Screen::new(sim)
        .work(work)
        .input(&work.path("cards.csv"))
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
}

#[test]
fn an_untrusted_certificate_stops_the_run_at_the_first_call_naming_host_and_ca_cert() {
    let work = Workdir::new();
    let ca = TestCa::new(&work);
    let sim = ca.simulator();
    assert!(sim.endpoint().starts_with("https://127.0.0.1:"));
    work.write("cards.csv", card_csv(&cards(40, 135)));
    let summary = work.path("summary.json");
    let result = screen_tls(&sim, &work)
        .args(["--concurrency", "16", "--summary"])
        .arg(&summary)
        .run();
    result.exit(4);
    assert!(
        result
            .stderr
            .contains("certificate of 127.0.0.1 is not trusted")
            && result.stderr.contains("--ca-cert"),
        "{}",
        result.stderr
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(
        summary["calls"], 1,
        "one handshake, then the run stops: {summary}"
    );
    assert_eq!(result.calls, 0, "no request got past the handshake");
    assert!(!result.out().exists());
}

#[test]
fn ca_cert_or_ssl_cert_file_trusts_the_proxys_ca() {
    let work = Workdir::new();
    let ca = TestCa::new(&work);
    let sim = ca.simulator();
    let all = cards(30, 136);
    work.write("cards.csv", card_csv(&all));
    let via_flag = screen_tls(&sim, &work)
        .output("flag.csv")
        .arg("--ca-cert")
        .arg(&ca.ca)
        .run();
    let via_env = screen_tls(&sim, &work)
        .output("env.csv")
        .env("SSL_CERT_FILE", &ca.ca)
        .run();
    for result in [&via_flag, &via_env] {
        result.ok().all_ok();
        assert_eq!(result.rows.len(), all.len());
        assert_eq!(result.calls, 30);
    }
}

#[test]
fn a_ca_cert_that_is_no_certificate_is_exit_2_naming_the_file() {
    let work = Workdir::new();
    let ca = TestCa::new(&work);
    let sim = ca.simulator();
    work.write("cards.csv", card_csv(&cards(3, 137)));
    // A private key where the certificate should be: a mistake easily made.
    let result = screen_tls(&sim, &work).arg("--ca-cert").arg(&ca.key).run();
    assert_refused(&result, "--ca-cert");
    assert!(result.stderr.contains("server.key"), "{}", result.stderr);
    let result = screen_tls(&sim, &work)
        .env("SSL_CERT_FILE", work.path("missing.pem"))
        .run();
    assert_refused(&result, "SSL_CERT_FILE");
    assert_eq!(sim.calls(), 0);
}
