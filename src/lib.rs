//! cardscreen: screen files of bank card numbers against the Juhe bank-card blacklist API.
//!
//! The modules read as the data flows: `cli` (flags and config into `Settings`) → `input`
//! (read, decode, plan each row) → `dedup` → `call` (pace, call, retry) → `output` (journal,
//! reorder, write) → `report`, steered by `run`. Below every stage lie the types that travel
//! between them: `card`, `header`, `outcome`, `control`, the `vendor`'s protocol, the result
//! `store`, and beneath them `util` (files, the clock, hashing, text as messages show it).
//! `simulator` (a cargo feature, on by default) stands in for the vendor. docs/ARCHITECTURE.md tells the whole story on one page.

#![warn(missing_docs)]

use std::io::Write;

mod call;
pub mod card;
pub mod cli;
mod control;
mod dedup;
mod header;
pub mod input;
pub mod logging;
mod outcome;
mod output;
mod report;
mod run;
#[cfg(feature = "simulator")]
pub mod simulator;
mod store;
mod util;
pub mod vendor;

/// Runs a screening with its own runtime and returns the process exit code.
pub fn run_screen(settings: cli::Settings) -> i32 {
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    // Past a file size limit (`ulimit -f`, systemd's LimitFSIZE) a write then fails with
    // EFBIG, which the run handles as a full disk (answers journaled, exit 4), instead of the
    // signal killing the process in mid-write.
    // SAFETY: setting a signal to be ignored has no memory effects.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let Some(runtime) = runtime() else { return 2 };
    let code = match runtime.block_on(run::screen(settings)) {
        Ok(code) => code,
        Err(e) => {
            // Not `eprintln!`, which panics when stderr is gone (the terminal hung up).
            let message = card::mask_text(&e.to_string()).into_owned();
            let _ = writeln!(std::io::stderr(), "cardscreen: {message}");
            2
        }
    };
    // Tasks still sleeping in a backoff must not hold the process open.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

/// Writes generated text (a completion script, the man page) to standard output and returns
/// the exit code; a reader that went away (`| head`) is no error.
pub fn print(text: &[u8]) -> i32 {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("cardscreen: cannot write to standard output: {e}");
            1
        }
    }
}

/// Runs `cardscreen history`: card numbers from standard input, their stored results on
/// standard output.
pub fn run_history(args: &cli::StoreArgs) -> i32 {
    let store = match store_options(args) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match store::history(&store, stdin.lock(), std::io::BufWriter::new(stdout.lock())) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cardscreen: {}", card::mask_text(&e.to_string()));
            2
        }
    }
}

/// Runs `store stats`, or `store prune` when `prune` says how old a card may be and whether
/// to vacuum the file after.
pub fn run_store(args: &cli::StoreArgs, prune: Option<(std::time::Duration, bool)>) -> i32 {
    let store = match store_options(args) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let done = match prune {
        None => store::stats(&store),
        Some((age, vacuum)) => store::prune(&store, age, vacuum),
    };
    printed(done)
}

/// Runs `store runs`: the latest `limit` runs as a table, or JSON.
pub fn run_store_runs(args: &cli::StoreArgs, limit: u32, json: bool) -> i32 {
    match store_options(args) {
        Ok(store) => printed(store::runs(&store, limit, json)),
        Err(code) => code,
    }
}

/// Runs `store report`: the trend of the store's runs as an HTML page.
pub fn run_store_report(args: &cli::StoreArgs, output: &std::path::Path) -> i32 {
    let store = match store_options(args) {
        Ok(store) => store,
        Err(code) => return code,
    };
    match report::write_trend(&store.path, output) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cardscreen: {e}");
            2
        }
    }
}

/// The store the flags or the config file name; else the message said and exit code 2.
fn store_options(args: &cli::StoreArgs) -> Result<store::StoreOptions, i32> {
    args.options().map_err(|e| {
        eprintln!("cardscreen: {e}");
        2
    })
}

/// A store command's report printed, or its error said with exit code 2.
fn printed(done: Result<String, store::StoreError>) -> i32 {
    match done {
        Ok(report) => {
            print!("{report}");
            0
        }
        Err(e) => {
            eprintln!("cardscreen: {e}");
            2
        }
    }
}

/// Runs `cardscreen simulate` until interrupted.
#[cfg(feature = "simulator")]
pub fn run_simulator(config: simulator::SimulatorConfig) -> i32 {
    let Some(runtime) = runtime() else { return 2 };
    match runtime.block_on(simulator::serve_forever(config)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cardscreen: simulator: {e}");
            2
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            eprintln!("cardscreen: cannot start the async runtime: {e}");
            None
        }
    }
}
