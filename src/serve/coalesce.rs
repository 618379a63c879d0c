//! Coalescing: many requests for the same record share one sync.
//!
//! A request must see a read that started after it arrived, or it could be
//! told about the record as it was before the change that prompted it. So
//! requests for a key queue behind the running sync; when it ends, the
//! first in line starts a new one that covers everybody who arrived before
//! it started, and they all take its answer. However many requests pile up
//! while one sync runs, one more sync serves them all.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Shares work between concurrent callers asking for the same key.
pub struct Coalescer<K, V> {
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

/// One key's queue.
struct Slot<V> {
    /// Tickets handed out so far; a caller's ticket is its arrival number.
    arrivals: AtomicU64,
    /// The last answer and the last ticket it covers.
    last: tokio::sync::Mutex<Option<(u64, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Coalescer<K, V> {
    /// An empty coalescer.
    pub fn new() -> Coalescer<K, V> {
        Coalescer {
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `work` for `key`, or takes the answer of a run that started
    /// after this call arrived.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let slot = self.slot(&key);
        let ticket = slot.arrivals.fetch_add(1, Ordering::SeqCst) + 1;
        let value = {
            let mut last = slot.last.lock().await;
            match &*last {
                Some((covered, value)) if *covered >= ticket => value.clone(),
                _ => {
                    let covered = slot.arrivals.load(Ordering::SeqCst);
                    let value = work().await;
                    *last = Some((covered, value.clone()));
                    value
                }
            }
        };
        self.release(&key, slot);
        value
    }

    /// The slot of `key`, made when nobody is asking for it.
    fn slot(&self, key: &K) -> Arc<Slot<V>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = slots.entry(key.clone()).or_insert_with(|| {
            Arc::new(Slot {
                arrivals: AtomicU64::new(0),
                last: tokio::sync::Mutex::new(None),
            })
        });
        Arc::clone(slot)
    }

    /// Forgets the slot of `key` when the caller was the last one using it.
    /// Slots are only cloned under the map's lock, so the count is exact.
    fn release(&self, key: &K, slot: Arc<Slot<V>>) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::strong_count(&slot) == 2 {
            slots.remove(key);
        }
    }

    /// How many keys have callers now.
    #[cfg(test)]
    fn busy_keys(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Default for Coalescer<K, V> {
    fn default() -> Self {
        Coalescer::new()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_arriving_during_a_run_share_one_follow_up_run() {
        let coalescer = Arc::new(Coalescer::<&str, usize>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let call = |delay_ms: u64| {
            let coalescer = Arc::clone(&coalescer);
            let runs = Arc::clone(&runs);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                coalescer
                    .run("003", || async {
                        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        n
                    })
                    .await
            })
        };
        let first = call(0);
        let later: Vec<_> = (0..5).map(|_| call(50)).collect();
        assert_eq!(first.await.unwrap(), 1);
        for answer in later {
            assert_eq!(answer.await.unwrap(), 2, "they share the second run");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(coalescer.busy_keys(), 0, "idle keys are forgotten");
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_for_each_other() {
        let coalescer = Coalescer::<u32, u32>::new();
        let (a, b) = tokio::join!(
            coalescer.run(1, || async { 10 }),
            coalescer.run(2, || async { 20 })
        );
        assert_eq!((a, b), (10, 20));
    }
}
