//! Live delivery inside one instance: a channel per connected user, so an announced
//! notification wakes only its owner's subscriptions.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::Stream;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::domain::Notification;

/// How many notifications a slow subscriber may fall behind before it skips some.
const BUFFER: usize = 64;

/// The subscriptions of this instance, by user.
#[derive(Default)]
pub struct LiveHub {
    users: Mutex<HashMap<Uuid, broadcast::Sender<Notification>>>,
}

/// Unregisters a subscription's channel once its last receiver is gone.
struct Registration {
    hub: Arc<LiveHub>,
    user: Uuid,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut users) = self.hub.users.lock()
            && users
                .get(&self.user)
                .is_some_and(|sender| sender.receiver_count() == 0)
        {
            users.remove(&self.user);
        }
        metrics::gauge!("notifications_live_subscriptions").decrement(1);
    }
}

impl LiveHub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// `user`'s notifications from now on, until the stream is dropped.
    pub fn subscribe(self: &Arc<Self>, user: Uuid) -> impl Stream<Item = Notification> + use<> {
        let receiver = match self.users.lock() {
            Ok(mut users) => users
                .entry(user)
                .or_insert_with(|| broadcast::channel(BUFFER).0)
                .subscribe(),
            // A poisoned lock: give a stream that ends at once rather than panic.
            Err(_) => broadcast::channel(1).1,
        };
        metrics::gauge!("notifications_live_subscriptions").increment(1);
        let registration = Registration {
            hub: self.clone(),
            user,
        };
        // The receiver comes first in the state, so it is dropped before the registration.
        futures::stream::unfold(
            (receiver, registration),
            |(mut receiver, registration)| async move {
                loop {
                    match receiver.recv().await {
                        Ok(notification) => return Some((notification, (receiver, registration))),
                        Err(broadcast::error::RecvError::Lagged(skipped)) => {
                            tracing::warn!(user = %registration.user, skipped, "a live subscriber fell behind");
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            },
        )
    }

    /// Pushes `notification` to its owner's subscriptions on this instance; returns how
    /// many there were.
    pub fn publish(&self, notification: &Notification) -> usize {
        let sender = self
            .users
            .lock()
            .ok()
            .and_then(|users| users.get(&notification.user_id).cloned());
        let delivered = sender.map_or(0, |s| s.send(notification.clone()).unwrap_or(0));
        if delivered > 0 {
            metrics::counter!("notifications_live_delivered_total").increment(delivered as u64);
        }
        delivered
    }

    /// Users with at least one subscription here.
    pub fn connected_users(&self) -> usize {
        self.users.lock().map_or(0, |users| users.len())
    }
}
