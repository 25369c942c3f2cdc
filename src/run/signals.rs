//! Signals: the first SIGINT or SIGTERM stops the run the orderly way (calls in flight finish
//! and are journaled); a second one exits at once, the journal being safe on disk already.

use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};

use crate::control::{Control, StopReason};

pub(super) async fn watch(control: Arc<Control>) {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("Cannot listen for SIGINT/SIGTERM; an interrupted run may lose up to a second of results.");
        return;
    };
    let mut seen = false;
    loop {
        let number = tokio::select! {
            _ = interrupt.recv() => libc::SIGINT,
            _ = terminate.recv() => libc::SIGTERM,
        };
        if seen {
            eprintln!("cardscreen: second signal, exiting now; run again with --resume to go on");
            std::process::exit(128 + number);
        }
        seen = true;
        eprintln!(
            "cardscreen: stopping: waiting for the calls in flight (signal again to exit at once)"
        );
        control.stop(StopReason::Signal { number });
    }
}
