//! In-flight deduplication: work identical to some still running waits for that one's
//! result instead of running again. Used for subgraph requests and for whole client
//! operations (queries only; see `traffic.dedupe`). Nothing is cached: an entry lives
//! exactly as long as its work runs.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hash},
    sync::{Arc, Mutex},
};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};

type Running<V> = Shared<BoxFuture<'static, V>>;

/// The work running under one hash (more than one only on a collision).
type Bucket<K, V> = Vec<(Arc<K>, Running<V>)>;

/// Running work by a hash of its key; the whole key is compared on a hit, so a hash
/// collision can never hand one caller another's result.
pub(crate) struct InFlight<K, V: Clone> {
    running: Mutex<HashMap<u64, Bucket<K, V>>>,
}

impl<K, V: Clone> Default for InFlight<K, V> {
    fn default() -> Self {
        Self {
            running: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, V> InFlight<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The result of `work`, or of the identical work already running; `joined` (called
    /// at once, before the wait) says which. The work runs inside the future every caller
    /// awaits, so it goes on while any caller waits, and a caller that gives up cancels
    /// nothing for the others.
    pub async fn run(
        self: &Arc<Self>,
        key: K,
        work: impl FnOnce() -> BoxFuture<'static, V>,
        joined: impl FnOnce(bool),
    ) -> V {
        let hash = rustc_hash::FxBuildHasher.hash_one(&key);
        let (running, was_joined) = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            let list = running.entry(hash).or_default();
            match list.iter().find(|(k, _)| **k == key) {
                Some((_, shared)) => (shared.clone(), true),
                None => {
                    let key = Arc::new(key);
                    let this = Arc::clone(self);
                    let own_key = Arc::clone(&key);
                    let work = work();
                    let shared = async move {
                        let value = work.await;
                        // Done: later callers start their own.
                        this.remove(hash, &own_key);
                        value
                    }
                    .boxed()
                    .shared();
                    list.push((key, shared.clone()));
                    (shared, false)
                }
            }
        };
        joined(was_joined);
        running.await
    }

    fn remove(&self, hash: u64, key: &Arc<K>) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = running.get_mut(&hash) {
            list.retain(|(k, _)| !Arc::ptr_eq(k, key));
            if list.is_empty() {
                running.remove(&hash);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_identical_work_runs_once_and_different_work_does_not_share() {
        let in_flight: Arc<InFlight<String, u32>> = Arc::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, wait) = tokio::sync::watch::channel(false);
        let call = |key: &str, value: u32| {
            let runs = runs.clone();
            let mut wait = wait.clone();
            let in_flight = in_flight.clone();
            let key = key.to_owned();
            async move {
                let mut joined = false;
                let value = in_flight
                    .run(
                        key,
                        move || {
                            async move {
                                runs.fetch_add(1, Ordering::SeqCst);
                                let _ = wait.wait_for(|open| *open).await;
                                value
                            }
                            .boxed()
                        },
                        |j| joined = j,
                    )
                    .await;
                (value, joined)
            }
        };
        let a = tokio::spawn(call("a", 1));
        tokio::task::yield_now().await;
        let b = tokio::spawn(call("a", 2));
        let c = tokio::spawn(call("c", 3));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let _ = release.send(true);
        let (a, b, c) = (a.await.unwrap(), b.await.unwrap(), c.await.unwrap());
        assert_eq!(a, (1, false));
        assert_eq!(b, (1, true), "the second identical call joined the first");
        assert_eq!(c, (3, false));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(in_flight.len(), 0, "finished work leaves nothing behind");
        // After it finished, the same key runs again.
        let mut joined = true;
        let again = in_flight
            .run("a".to_owned(), || async { 9 }.boxed(), |j| joined = j)
            .await;
        assert_eq!((again, joined), (9, false));
    }

    #[tokio::test]
    async fn the_work_goes_on_when_its_first_caller_gives_up() {
        let in_flight: Arc<InFlight<&'static str, u32>> = Arc::default();
        let (release, wait) = tokio::sync::watch::channel(false);
        let work = |mut wait: tokio::sync::watch::Receiver<bool>| {
            move || {
                async move {
                    let _ = wait.wait_for(|open| *open).await;
                    7
                }
                .boxed()
            }
        };
        let first = {
            let in_flight = in_flight.clone();
            let w = work(wait.clone());
            tokio::spawn(async move { in_flight.run("k", w, |_| {}).await })
        };
        tokio::task::yield_now().await;
        let second = {
            let in_flight = in_flight.clone();
            let w = work(wait.clone());
            tokio::spawn(async move {
                let mut joined = false;
                let value = in_flight.run("k", w, |j| joined = j).await;
                (value, joined)
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        first.abort();
        let _ = release.send(true);
        assert_eq!(second.await.unwrap(), (7, true));
    }
}
