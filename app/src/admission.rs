//! Admission to work that piles up on one key (the bookings of one session): at most `per_key`
//! requests of this process work on a key at once, at most `max_waiting` more wait their turn
//! (up to `max_wait`), and anyone beyond that is told to come back (`Unavailable`, answered 503
//! with `Retry-After`). Work on one session is serialised by its row lock in the database
//! anyway; letting hundreds of requests queue on that lock would hold every database
//! connection of the process, and pages and other sessions would time out with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{AppError, AppResult};

/// How a gate admits.
#[derive(Debug, Clone, Copy)]
pub struct GateRules {
    pub per_key: usize,
    pub max_waiting: usize,
    pub max_wait: Duration,
}

impl Default for GateRules {
    fn default() -> Self {
        Self {
            per_key: 2,
            max_waiting: 64,
            max_wait: Duration::from_secs(2),
        }
    }
}

struct Entry {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// The gates of this process, one per key in use.
pub struct Gates {
    rules: GateRules,
    entries: Mutex<HashMap<uuid::Uuid, Arc<Entry>>>,
}

/// Held while working on a key; the next one waiting goes in when it is dropped.
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
}

/// Keys kept before idle ones are swept.
const SWEEP_ABOVE: usize = 4096;

impl Gates {
    pub fn new(rules: GateRules) -> Self {
        Self {
            rules,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entry(&self, key: uuid::Uuid) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > SWEEP_ABOVE {
            let per_key = self.rules.per_key;
            entries.retain(|_, e| {
                Arc::strong_count(e) > 1
                    || e.slots.available_permits() < per_key
                    || e.waiting.load(Ordering::Relaxed) > 0
            });
        }
        entries
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Entry {
                    slots: Arc::new(Semaphore::new(self.rules.per_key)),
                    waiting: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// How many requests wait for `key` now.
    pub fn waiting(&self, key: uuid::Uuid) -> usize {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&key)
            .map_or(0, |e| e.waiting.load(Ordering::Acquire))
    }

    /// Admits the caller to work on `key`, waiting for a turn; `Unavailable` when too many
    /// wait already or the turn does not come within `max_wait`.
    pub async fn enter(&self, key: uuid::Uuid) -> AppResult<Admitted> {
        let entry = self.entry(key);
        if let Ok(slot) = entry.slots.clone().try_acquire_owned() {
            return Ok(Admitted { _slot: slot });
        }
        if entry.waiting.fetch_add(1, Ordering::AcqRel) >= self.rules.max_waiting {
            entry.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(refused("queue_full"));
        }
        let turn =
            tokio::time::timeout(self.rules.max_wait, entry.slots.clone().acquire_owned()).await;
        entry.waiting.fetch_sub(1, Ordering::AcqRel);
        match turn {
            Ok(Ok(slot)) => Ok(Admitted { _slot: slot }),
            _ => Err(refused("queue_wait")),
        }
    }
}

fn refused(reason: &'static str) -> AppError {
    metrics::counter!("roster_overload_rejections_total", "reason" => reason).increment(1);
    AppError::Unavailable { retry_after: 1 }
}

#[cfg(test)]
mod tests {
    use super::{GateRules, Gates};
    use crate::error::AppError;
    use std::time::Duration;

    #[tokio::test]
    async fn a_key_admits_its_share_queues_a_few_and_refuses_the_rest() {
        let gates = Gates::new(GateRules {
            per_key: 1,
            max_waiting: 1,
            max_wait: Duration::from_millis(200),
        });
        let key = uuid::Uuid::new_v4();
        let first = gates.enter(key).await.expect("the first is admitted");
        // Another key is not held up by this one.
        let _other = gates
            .enter(uuid::Uuid::new_v4())
            .await
            .expect("another key");
        let waiter = {
            let gates = std::sync::Arc::new(gates);
            let g = gates.clone();
            let waiting = tokio::spawn(async move { g.enter(key).await.map(|_| ()) });
            // Once the second one waits, the third finds the queue full.
            while gates.waiting(key) == 0 {
                tokio::task::yield_now().await;
            }
            assert!(matches!(
                gates.enter(key).await,
                Err(AppError::Unavailable { retry_after: 1 })
            ));
            drop(first);
            waiting
        };
        assert!(waiter.await.unwrap().is_ok(), "the waiter gets its turn");
    }

    #[tokio::test]
    async fn a_turn_that_does_not_come_in_time_is_refused() {
        let gates = Gates::new(GateRules {
            per_key: 1,
            max_waiting: 8,
            max_wait: Duration::from_millis(50),
        });
        let key = uuid::Uuid::new_v4();
        let _held = gates.enter(key).await.unwrap();
        assert!(matches!(
            gates.enter(key).await,
            Err(AppError::Unavailable { .. })
        ));
    }
}
