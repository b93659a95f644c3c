//! The notifications subgraph: turns the platform's events into in-app notifications and
//! emails, serves them over GraphQL (`User.notifications`, `unreadNotificationCount`), and
//! pushes new ones live over `Subscription.notificationAdded`.

pub mod config;
pub mod domain;
pub mod email;
pub mod events;
pub mod graphql;
pub mod live;
pub mod service;
pub mod startup;
pub mod storage;
pub mod websocket;

pub use config::NotificationsConfig;
pub use startup::Application;
