//! One `screen` run as a test states it, after ripgrep's `TestCommand`:
//! `Screen::new(&sim).cards(300, 7).args(["--max-calls", "50"]).run()` writes the cards into a
//! working directory of its own, screens them into `out.csv` there, and hands back the exit
//! code, both streams, the output read back and the calls the simulator received meanwhile.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{card_csv, cards, code, parse_csv, per_card_in, read_csv, run, run_with_stdin};
use super::{screen, Simulator, Workdir, BIN};

/// Where the run writes its output.
enum Target {
    /// `-o <file>` in the working directory.
    File(String),
    /// `-o <path>`, wherever it is.
    Path(PathBuf),
    /// `-o -`: the output is read back from standard output.
    Stdout,
    /// No `-o`: the binary names the output itself.
    Unnamed,
}

/// A `screen` run being set up: by default `cards.csv` screened into `out.csv`, both in a
/// working directory of the run's own.
pub struct Screen<'s> {
    sim: &'s Simulator,
    work: Workdir,
    input: Option<PathBuf>,
    target: Target,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
}

impl<'s> Screen<'s> {
    pub fn new(sim: &'s Simulator) -> Screen<'s> {
        Screen {
            sim,
            work: Workdir::new(),
            input: None,
            target: Target::File("out.csv".to_string()),
            args: Vec::new(),
            envs: Vec::new(),
            stdin: None,
        }
    }

    /// Works in `work`, whose other files the test reads or writes itself.
    pub fn work(mut self, work: &Workdir) -> Self {
        self.work = work.clone();
        self
    }

    /// `count` distinct valid cards (`cards(count, seed)`) in `cards.csv`.
    pub fn cards(self, count: usize, seed: u64) -> Self {
        self.card_list(&cards(count, seed))
    }

    /// These cards, one a row, in `cards.csv`.
    pub fn card_list(self, cards: &[String]) -> Self {
        self.csv(card_csv(cards))
    }

    /// `cards.csv` with these contents.
    pub fn csv(mut self, contents: impl AsRef<[u8]>) -> Self {
        self.input = Some(self.work.write("cards.csv", contents));
        self
    }

    /// A file from `fixtures/`, copied into the working directory.
    pub fn fixture(mut self, name: &str) -> Self {
        self.input = Some(self.work.fixture(name));
        self
    }

    /// An input that is already there.
    pub fn input(mut self, path: &Path) -> Self {
        self.input = Some(path.to_path_buf());
        self
    }

    /// The output under this name in the working directory.
    pub fn output(mut self, name: &str) -> Self {
        self.target = Target::File(name.to_string());
        self
    }

    /// The output at this path.
    pub fn output_path(mut self, path: &Path) -> Self {
        self.target = Target::Path(path.to_path_buf());
        self
    }

    /// `-o -`: the output goes to standard output and is read back from there.
    pub fn output_to_stdout(mut self) -> Self {
        self.target = Target::Stdout;
        self
    }

    /// No `-o`: the binary chooses the output's name.
    pub fn unnamed_output(mut self) -> Self {
        self.target = Target::Unnamed;
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn arg(self, arg: impl AsRef<OsStr>) -> Self {
        self.args([arg])
    }

    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let value = Some(value.as_ref().to_os_string());
        self.envs.push((name.as_ref().to_os_string(), value));
        self
    }

    pub fn env_remove(mut self, name: impl AsRef<OsStr>) -> Self {
        self.envs.push((name.as_ref().to_os_string(), None));
        self
    }

    /// These bytes on standard input (the input then is usually `-`).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn run(self) -> Ran {
        let input = self
            .input
            .expect("a Screen needs an input: cards, csv, fixture or input");
        let out = match &self.target {
            Target::File(name) => Some(self.work.path(name)),
            Target::Path(path) => Some(path.clone()),
            Target::Stdout | Target::Unnamed => None,
        };
        let mut cmd = screen(self.sim, &input, &[]);
        match (&self.target, &out) {
            (Target::Stdout, _) => {
                cmd.args(["-o", "-"]);
            }
            (_, Some(out)) => {
                cmd.arg("-o").arg(out);
            }
            _ => {}
        }
        cmd.args(&self.args);
        for (name, value) in &self.envs {
            match value {
                Some(value) => cmd.env(name, value),
                None => cmd.env_remove(name),
            };
        }
        let out_before = out.as_deref().and_then(|p| std::fs::read(p).ok());
        let before = self.sim.stats();
        let output = match &self.stdin {
            Some(bytes) => run_with_stdin(&mut cmd, bytes),
            None => run(&mut cmd),
        };
        let after = self.sim.stats();
        let calls =
            after["calls"].as_u64().expect("calls") - before["calls"].as_u64().expect("calls");
        let per_card = called_between(&per_card_in(&before), per_card_in(&after));
        let (header, rows) = match (&self.target, &out) {
            (Target::Stdout, _) => parse_csv(&output.stdout, b','),
            (_, Some(out)) if is_csv(out) && out.exists() => read_csv(out),
            _ => Default::default(),
        };
        Ran {
            code: code(&output),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            stdout: output.stdout,
            header,
            rows,
            calls,
            per_card,
            input,
            out,
            work: self.work,
            out_before,
        }
    }
}

/// The calls each card received between two readings of `per_card`: only the cards called.
fn called_between(
    before: &BTreeMap<String, u64>,
    mut after: BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    for (card, calls) in &mut after {
        *calls -= before.get(card).copied().unwrap_or(0);
    }
    after.retain(|_, calls| *calls > 0);
    after
}

fn is_csv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "csv")
}

/// What a run left: its exit code and streams, its CSV output read back (empty when it wrote
/// none), and the calls the simulator received during it.
pub struct Ran {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub calls: u64,
    /// The calls each card received during the run, as the simulator counts them; only the
    /// cards called.
    pub per_card: BTreeMap<String, u64>,
    pub input: PathBuf,
    /// The output file, unless it went to standard output or was left to the binary to name.
    pub out: Option<PathBuf>,
    pub work: Workdir,
    out_before: Option<Vec<u8>>,
}

impl Ran {
    /// Asserts the exit code, showing stderr when it differs.
    #[track_caller]
    pub fn exit(&self, expected: i32) -> &Ran {
        assert_eq!(self.code, expected, "{}", self.stderr);
        self
    }

    /// Asserts exit 0.
    #[track_caller]
    pub fn ok(&self) -> &Ran {
        self.exit(0)
    }

    /// Column `name` of every output row.
    #[track_caller]
    pub fn column(&self, name: &str) -> Vec<String> {
        super::column(&self.header, &self.rows, name)
    }

    /// Asserts that every output row has `status` ok.
    #[track_caller]
    pub fn all_ok(&self) -> &Ran {
        let status = self.column("status");
        assert!(status.iter().all(|s| s == "ok"), "{status:?}");
        self
    }

    /// The output file's path.
    #[track_caller]
    pub fn out(&self) -> &Path {
        self.out.as_deref().expect("this run had no output file")
    }

    /// The sum of the `attempts` column.
    #[track_caller]
    pub fn attempts(&self) -> u64 {
        self.column("attempts")
            .iter()
            .map(|a| a.parse::<u64>().expect("attempts is a number"))
            .sum()
    }

    /// Standard output as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Whether the output file is as it was before the run (absent stays absent).
    pub fn output_untouched(&self) -> bool {
        let now = self.out.as_deref().and_then(|p| std::fs::read(p).ok());
        now == self.out_before
    }
}

/// A run refused with exit 2: `phrase` in its message, no panic, no call made and the output
/// file (if the run named one) as it was before.
#[track_caller]
pub fn assert_refused(ran: &Ran, phrase: &str) {
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(phrase),
        "no {phrase:?} in: {}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    assert_eq!(ran.calls, 0, "a refused run calls nothing: {}", ran.stderr);
    assert!(ran.output_untouched(), "a refused run writes no output");
}

/// Another subcommand of the binary (`store stats`, `history`, …) as a test states it:
/// `Cardscreen::new(["store", "stats"]).arg("--store").arg(&store).run()`.
pub struct Cardscreen {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl Cardscreen {
    pub fn new<I, S>(args: I) -> Cardscreen
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env_remove("RUST_LOG");
        Cardscreen { cmd, stdin: None }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// Runs in `dir`, where a `cardscreen.toml` may wait.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// These bytes on standard input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn run(mut self) -> Exited {
        let output = match &self.stdin {
            Some(bytes) => run_with_stdin(&mut self.cmd, bytes),
            None => run(&mut self.cmd),
        };
        Exited {
            code: code(&output),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// What a `Cardscreen` run left: its exit code and both streams.
pub struct Exited {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Exited {
    /// Asserts the exit code, showing stderr when it differs.
    #[track_caller]
    pub fn exit(&self, expected: i32) -> &Exited {
        assert_eq!(self.code, expected, "{}", self.stderr);
        self
    }

    /// Asserts exit 0.
    #[track_caller]
    pub fn ok(&self) -> &Exited {
        self.exit(0)
    }
}
