//! Notifications, their kinds and a user's preferences: values valid by construction.

mod kind;
mod money;
mod notification;
mod preferences;

pub use kind::NotificationKind;
pub use money::Money;
pub use notification::{Contact, NewNotification, Notification, NotificationId, PageCursor};
pub use preferences::Preferences;
