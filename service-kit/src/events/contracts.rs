//! The payloads of every event type. Field names are camelCase on the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Event;

/// A new account was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub timestamp: DateTime<Utc>,
}

impl Event for UserRegistered {
    const TYPE: &'static str = "user.registered";
    fn subject(&self) -> String {
        self.user_id.to_string()
    }
}

/// A user signed in with their password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserLogin {
    pub user_id: Uuid,
    pub email: String,
    pub timestamp: DateTime<Utc>,
}

impl Event for UserLogin {
    const TYPE: &'static str = "user.login";
    fn subject(&self) -> String {
        self.user_id.to_string()
    }
}

/// An account was deleted; services drop or close what belongs to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDeleted {
    pub user_id: Uuid,
    pub email: String,
    pub timestamp: DateTime<Utc>,
}

impl Event for UserDeleted {
    const TYPE: &'static str = "user.deleted";
    fn subject(&self) -> String {
        self.user_id.to_string()
    }
}
