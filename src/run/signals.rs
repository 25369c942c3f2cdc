//! Signals: the first SIGINT, SIGTERM or SIGHUP (the terminal went away, which counts as
//! SIGTERM) stops the run the orderly way: calls in flight finish and are journaled. A second
//! one exits at once, once the answers that have already arrived are journaled.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::control::{Control, StopReason};

/// How long a second signal waits for the answers already arrived to be journaled: they are
/// in memory, so this is a bound for a stuck disk, not a wait for the network.
const SAVE_BEFORE_EXIT: Duration = Duration::from_secs(2);

pub(super) async fn watch(control: Arc<Control>) {
    let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("Cannot listen for SIGINT/SIGTERM/SIGHUP; an interrupted run may lose up to a second of results.");
        return;
    };
    let mut seen = false;
    loop {
        let number = tokio::select! {
            _ = interrupt.recv() => libc::SIGINT,
            _ = terminate.recv() => libc::SIGTERM,
            _ = hangup.recv() => libc::SIGTERM,
        };
        if seen {
            say("cardscreen: second signal, exiting now; run again with --resume to go on");
            control.exit_now();
            let _ = tokio::time::timeout(SAVE_BEFORE_EXIT, control.until_saved()).await;
            std::process::exit(128 + number);
        }
        seen = true;
        say("cardscreen: stopping: waiting for the calls in flight (signal again to exit at once)");
        control.stop(StopReason::Signal { number });
    }
}

/// A line on stderr, which may be gone (SIGHUP: the terminal hung up); `eprintln!` would panic.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
