//! The metrics file as its readers meet it: mode 0644 by default (node_exporter runs as another
//! user), `metrics_mode` for less, and node_exporter itself, run as `nobody`, scraping it with
//! no error; promtool finds the file well-formed.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A run with `--metrics` in `work`, `config` lines in its config file; the metrics file.
fn metrics_run(work: &Workdir, config: &str) -> std::path::PathBuf {
    let sim = Simulator::start(&[]);
    let config_path = work.write("night.toml", config);
    let metrics = work.path("cardscreen.prom");
    Screen::new(&sim)
        .work(work)
        .cards(20, 141)
        .arg("--metrics")
        .arg(&metrics)
        .arg("-c")
        .arg(&config_path)
        .run()
        .ok();
    metrics
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_metrics_file_is_0644_by_default_and_as_metrics_mode_says() {
    let work = Workdir::new();
    let metrics = metrics_run(&work, "");
    assert_eq!(mode_of(&metrics), 0o644);
    // Other outputs stay owner-only.
    assert_eq!(mode_of(&work.path("out.csv")), 0o600);
    let metrics = metrics_run(&work, "metrics_mode = \"0640\"\n");
    assert_eq!(mode_of(&metrics), 0o640);
    assert!(std::fs::read_to_string(&metrics)
        .unwrap()
        .contains("cardscreen_run_complete"));
    assert!(!files_in(work.dir.path())
        .iter()
        .any(|f| f.ends_with(".tmp")));
}

#[test]
fn a_metrics_mode_that_is_not_an_octal_mode_is_exit_2_naming_the_key() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(5, 142)));
    for bad in ["\"0666\"", "\"rw-r--r--\"", "\"0988\""] {
        let config = work.write("bad.toml", format!("metrics_mode = {bad}\n"));
        let done = Screen::new(&sim)
            .work(&work)
            .input(&input)
            .unnamed_output()
            .arg("--metrics")
            .arg(work.path("m.prom"))
            .arg("-c")
            .arg(&config)
            .run();
        assert_refused(&done, "metrics_mode");
    }
    assert_eq!(sim.stats()["calls"].as_u64(), Some(0));
    assert!(!work.path("m.prom").exists());
}

/// A loopback port nobody listens on, as far as one can tell.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// GET /metrics from node_exporter on `port`, waiting for it to listen.
fn scrape(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let request =
                "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\nConnection: close\r\n\r\n";
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            if response.starts_with("HTTP/1.1 200") {
                return response;
            }
        }
        assert!(Instant::now() < deadline, "node_exporter never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// node_exporter's textfile collector, run as `nobody`, scraping `dir` once.
fn scrape_as_nobody(dir: &Path) -> String {
    let port = free_port();
    let mut exporter = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg("prometheus-node-exporter")
        .args([
            "--collector.disable-defaults",
            "--collector.textfile",
            &format!("--collector.textfile.directory={}", dir.display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run prometheus-node-exporter through setpriv");
    let response = std::panic::catch_unwind(|| scrape(port));
    let _ = exporter.kill();
    let _ = exporter.wait();
    response.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[test]
#[ignore = "needs root and node_exporter"]
fn node_exporter_as_another_user_scrapes_the_metrics_file() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "run as root, to drop to nobody"
    );
    // A directory under /tmp that nobody may enter and list.
    let work = Workdir::from(
        tempfile::Builder::new()
            .prefix("cardscreen-textfile")
            .tempdir_in("/tmp")
            .unwrap(),
    );
    let dir = work.dir.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let metrics = metrics_run(&work, "");
    // What a job's files other than the metrics would be: not for the collector's eyes.
    for file in ["out.csv", "cards.csv", "night.toml"] {
        std::fs::remove_file(work.path(file)).unwrap();
    }
    let response = scrape_as_nobody(dir);
    assert!(
        response.contains("\nnode_textfile_scrape_error 0\n"),
        "{response}"
    );
    let complete = response
        .lines()
        .find(|line| line.starts_with("cardscreen_run_complete{output="))
        .unwrap_or_else(|| panic!("no cardscreen_run_complete:\n{response}"));
    assert!(complete.ends_with("} 1"), "{complete}");

    // The same file made owner-only is what node_exporter could not read before.
    std::fs::set_permissions(&metrics, std::fs::Permissions::from_mode(0o600)).unwrap();
    let refused = scrape_as_nobody(dir);
    assert!(
        refused.contains("\nnode_textfile_scrape_error 1\n"),
        "{refused}"
    );
}

#[test]
#[ignore = "needs promtool"]
fn promtool_finds_the_metrics_file_well_formed() {
    let work = Workdir::new();
    let metrics = metrics_run(&work, "");
    let checked = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics).unwrap())
        .output()
        .expect("run promtool");
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
