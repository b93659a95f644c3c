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

/// One subscription's receiver; unregisters the user's channel when the last one goes.
struct Registration {
    hub: Arc<LiveHub>,
    user: Uuid,
    receiver: Option<broadcast::Receiver<Notification>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Our receiver first, so that the count below no longer includes it.
        drop(self.receiver.take());
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
            receiver: Some(receiver),
        };
        futures::stream::unfold(registration, |mut registration| async move {
            let user = registration.user;
            let receiver = registration.receiver.as_mut()?;
            loop {
                match receiver.recv().await {
                    Ok(notification) => return Some((notification, registration)),
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(%user, skipped, "a live subscriber fell behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
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

    /// `user`'s subscriptions on this instance.
    pub fn subscriptions(&self, user: Uuid) -> usize {
        self.users
            .lock()
            .ok()
            .and_then(|users| users.get(&user).map(broadcast::Sender::receiver_count))
            .unwrap_or(0)
    }

    /// Users with at least one subscription here.
    pub fn connected_users(&self) -> usize {
        self.users.lock().map_or(0, |users| users.len())
    }
}

#[cfg(test)]
mod tests {
    use futures::{FutureExt, StreamExt};

    use super::*;
    use crate::domain::{NewNotification, NotificationKind};

    fn notification(user: Uuid) -> Notification {
        NewNotification::new(user, NotificationKind::Welcome, "t", "b")
            .unwrap()
            .into_notification()
    }

    #[tokio::test]
    async fn delivers_to_the_owner_only_and_unregisters_on_drop() {
        let hub = LiveHub::new();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let mut first = Box::pin(hub.subscribe(alice));
        let second = Box::pin(hub.subscribe(alice));
        let mut bobs = Box::pin(hub.subscribe(bob));
        assert_eq!(hub.subscriptions(alice), 2);
        let sent = notification(alice);
        assert_eq!(hub.publish(&sent), 2);
        assert_eq!(first.next().await, Some(sent));
        assert!(bobs.next().now_or_never().is_none());
        drop(second);
        assert_eq!(hub.subscriptions(alice), 1);
        drop(first);
        assert_eq!(hub.subscriptions(alice), 0);
        assert_eq!(hub.connected_users(), 1);
        assert_eq!(hub.publish(&notification(alice)), 0);
    }
}
