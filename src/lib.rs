//! cardscreen: screen files of bank card numbers against the Juhe bank-card blacklist API.
//!
//! The pipeline, one module per stage: `reader` (with `decode` and `card`) → `dedup` →
//! `pacer` → `pool` (with `client` and `retry`) → `writer` (with `journal`), steered by
//! `screen` and reported by `report`. `vendor` is the wire protocol the client and the
//! simulator share; `simulator` (cargo feature, on by default) is a stand-in for the vendor.

pub mod card;
pub mod client;
pub mod control;
pub mod decode;
pub mod dedup;
pub mod files;
mod hash;
pub mod journal;
pub mod logging;
pub mod outcome;
pub mod pacer;
pub mod pool;
pub mod reader;
pub mod report;
pub mod retry;
pub mod screen;
pub mod settings;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod vendor;
pub mod writer;

/// Runs a screening with its own runtime and returns the process exit code.
pub fn run_screen(settings: settings::Settings) -> i32 {
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let Some(runtime) = runtime() else { return 2 };
    let code = match runtime.block_on(screen::screen(settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cardscreen: {}", card::mask_text(&e.to_string()));
            2
        }
    };
    // Tasks still sleeping in a backoff must not hold the process open.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
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
