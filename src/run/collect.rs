//! The run's third step: the collector writes until the reader and the pool are done, then the
//! reader thread is joined, the watch stopped and the store's writer has committed everything.

use tokio::sync::mpsc;

use super::endpoint::Endpoint;
use super::feed::{self, FeedEnd};
use super::files::Paths;
use super::start::Running;
use super::RunError;
use crate::call::Finished;
use crate::control::{Control, StopReason};
use crate::outcome::Row;
use crate::output::{CollectError, Collected, Collector};

/// What `collect` hands `settle`: how the collector and the reader ended, and the files and
/// the endpoint still to settle.
pub(super) struct Drained {
    pub(super) collected: Collected,
    pub(super) feed_end: FeedEnd,
    pub(super) paths: Paths,
    pub(super) endpoint: Endpoint,
}

/// Waits for the last row and result. Everything the collector handed the store is committed
/// before this returns, so that the journal may go once the run settles.
pub(super) async fn collect(running: Running, control: &Control) -> Result<Drained, RunError> {
    let collected = drain(running.collector, running.rows, running.results, control).await;
    let feed_end = feed::join(running.feed).await;
    running.watch.finish();
    if let Some(writer) = running.store_writer {
        writer.finish().await.map_err(RunError::StoreWrite)?;
    }
    Ok(Drained {
        collected: collected?,
        feed_end,
        paths: running.paths,
        endpoint: running.endpoint,
    })
}

/// Runs the collector on the runtime's workers, beside the calls whose results it takes,
/// rather than on this thread: waking this thread for every result cost a futex call and a
/// context switch. When it fails, the reader and the pool are stopped.
async fn drain(
    collector: Collector,
    rows: mpsc::Receiver<Vec<Row>>,
    results: mpsc::Receiver<Finished>,
    control: &Control,
) -> Result<Collected, CollectError> {
    let collected = match tokio::spawn(collector.run(rows, results)).await {
        Ok(collected) => collected,
        Err(joined) => std::panic::resume_unwind(joined.into_panic()),
    };
    if collected.is_err() {
        control.stop(StopReason::Input {
            message: "the output could not be written".into(),
        });
    }
    collected
}
