//! The platform's events as notifications: which event causes which kind, what the
//! notification says, and the two consumers: the durable work queue (store, email, then
//! announce) and the live fan-out (push announced notifications to this instance's
//! websocket subscribers).

mod live;
mod translate;
mod work;

pub use live::{LIVE_BINDING, LiveHandler, NotificationCreated};
pub use translate::{Occurrence, PaymentView};
pub use work::WorkHandler;
