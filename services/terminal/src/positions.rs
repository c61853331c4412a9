//! Every session's position fixes stored together: a session hands its fixes over and
//! gets an answer when they are stored; one worker takes whatever has gathered (up to
//! [`MAX_FIXES`]) into one `report_positions` call, so a busy gateway costs Redis one
//! script call per batch instead of one per frame. A session does not wait for the answer
//! before reading its next frame: its replies go out in order as their batches are stored.

use std::sync::{Arc, Mutex};
use taxi_store::Store;
use taxi_store::taxis::Fix;
use tokio::sync::{mpsc, oneshot};

/// The most fixes one batch carries.
pub(crate) const MAX_FIXES: usize = 1_000;
/// Batches waiting for the worker, at most (sessions wait to hand theirs over beyond it).
const QUEUED: usize = 4_096;

type Batch = (Vec<Fix>, oneshot::Sender<bool>);

/// The way in to the worker.
#[derive(Debug, Clone)]
pub(crate) struct Fixes {
    tx: mpsc::Sender<Batch>,
    rx: Arc<Mutex<Option<mpsc::Receiver<Batch>>>>,
}

impl Fixes {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::channel(QUEUED);
        Self {
            tx,
            rx: Arc::new(Mutex::new(Some(rx))),
        }
    }

    /// Hands `fixes` over; the answer says whether they were stored.
    pub(crate) async fn store(&self, fixes: Vec<Fix>) -> oneshot::Receiver<bool> {
        let (done, answer) = oneshot::channel();
        // A closed worker drops `done`: the answer then reads as not stored.
        let _ = self.tx.send((fixes, done)).await;
        answer
    }

    /// The worker (once: later calls get `None`).
    pub(crate) fn worker(
        &self,
        store: Store,
        fresh_ms: i64,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let mut rx = self.rx.lock().ok()?.take()?;
        Some(async move {
            while let Some(first) = rx.recv().await {
                let mut n = first.0.len();
                let mut batch = vec![first];
                while n < MAX_FIXES {
                    match rx.try_recv() {
                        Ok(b) => {
                            n += b.0.len();
                            batch.push(b);
                        }
                        Err(_) => break,
                    }
                }
                let fixes: Vec<Fix> = batch.iter().flat_map(|(f, _)| f.iter().cloned()).collect();
                let stored = match store.report_positions(&fixes, fresh_ms).await {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, fixes = fixes.len(), "terminal positions not stored");
                        false
                    }
                };
                for (_, done) in batch {
                    let _ = done.send(stored);
                }
            }
        })
    }
}
