use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::NotificationKind;

/// A notification's id: a UUIDv7, so ids sort by creation time (newest first is simply
/// "greatest id first", in Redis as in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationId(Uuid);

impl NotificationId {
    /// A fresh id for a notification created now.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// When the notification was created, from the id's timestamp.
    pub fn created_at(&self) -> DateTime<Utc> {
        let millis = self
            .0
            .get_timestamp()
            .map(|ts| {
                let (secs, nanos) = ts.to_unix();
                i64::try_from(secs).unwrap_or(i64::MAX) * 1000 + i64::from(nanos / 1_000_000)
            })
            .unwrap_or_default();
        Utc.timestamp_millis_opt(millis)
            .single()
            .unwrap_or_default()
    }

    /// The smallest id string of any notification created at or after `at`: the first 48
    /// bits of a UUIDv7 are its Unix milliseconds, written as `xxxxxxxx-xxxx`.
    pub fn lower_bound(at: DateTime<Utc>) -> String {
        let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
        format!("{:08x}-{:04x}", ms >> 16, ms & 0xFFFF)
    }
}

impl Default for NotificationId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lower-case hyphenated: the form whose byte order equals time order.
        write!(f, "{}", self.0.hyphenated())
    }
}

impl FromStr for NotificationId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id = Uuid::parse_str(s).map_err(|_| "not a notification id".to_owned())?;
        if id.get_version_num() != 7 {
            return Err("not a notification id".into());
        }
        Ok(Self(id))
    }
}

/// An opaque pagination cursor: the id of the last notification of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor(pub NotificationId);

impl PageCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.to_string())
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| "after is not a valid cursor".to_owned())?;
        let text =
            String::from_utf8(bytes).map_err(|_| "after is not a valid cursor".to_owned())?;
        text.parse()
            .map(Self)
            .map_err(|_| "after is not a valid cursor".to_owned())
    }
}

/// A notification as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: NotificationId,
    pub user_id: Uuid,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    pub read: bool,
    pub created_at: DateTime<Utc>,
}

/// What a new notification says, checked: title and body are non-empty, bounded, and free
/// of control characters other than line breaks in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    user_id: Uuid,
    kind: NotificationKind,
    title: String,
    body: String,
}

impl NewNotification {
    pub const MAX_TITLE: usize = 200;
    pub const MAX_BODY: usize = 2000;

    pub fn new(
        user_id: Uuid,
        kind: NotificationKind,
        title: &str,
        body: &str,
    ) -> Result<Self, String> {
        let title = title.trim();
        let body = body.trim();
        if title.is_empty() || body.is_empty() {
            return Err("a notification needs a title and a body".into());
        }
        if title.chars().count() > Self::MAX_TITLE || body.chars().count() > Self::MAX_BODY {
            return Err("notification text too long".into());
        }
        if title.chars().any(char::is_control) || body.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err("notification text must not contain control characters".into());
        }
        Ok(Self {
            user_id,
            kind,
            title: title.to_owned(),
            body: body.to_owned(),
        })
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn kind(&self) -> NotificationKind {
        self.kind
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    /// The stored notification, unread, with a fresh id.
    pub fn into_notification(self) -> Notification {
        let id = NotificationId::new();
        Notification {
            id,
            user_id: self.user_id,
            kind: self.kind,
            title: self.title,
            body: self.body,
            read: false,
            created_at: id.created_at(),
        }
    }
}

/// Where and how to address a user by email, learned from account events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_time_and_bound_by_millisecond() {
        let before = Utc::now().timestamp_millis();
        let a = NotificationId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = NotificationId::new();
        let after = Utc::now().timestamp_millis();
        assert!(a.to_string() < b.to_string());
        let bound = NotificationId::lower_bound(b.created_at());
        assert!(bound.as_str() <= b.to_string().as_str());
        assert!(bound.as_str() > a.to_string().as_str());
        let at = b.created_at().timestamp_millis();
        assert!(
            (before..=after).contains(&at),
            "{before} <= {at} <= {after}"
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = PageCursor(NotificationId::new());
        assert_eq!(PageCursor::decode(&cursor.encode()), Ok(cursor));
        assert!(PageCursor::decode("not a cursor").is_err());
        assert!(PageCursor::decode(&URL_SAFE_NO_PAD.encode(Uuid::new_v4().to_string())).is_err());
    }

    #[test]
    fn text_is_checked() {
        let user = Uuid::new_v4();
        assert!(NewNotification::new(user, NotificationKind::Welcome, " ", "b").is_err());
        assert!(NewNotification::new(user, NotificationKind::Welcome, "t\u{7}", "b").is_err());
        assert!(NewNotification::new(user, NotificationKind::Welcome, "t", "line\nline").is_ok());
        let long = "x".repeat(NewNotification::MAX_TITLE + 1);
        assert!(NewNotification::new(user, NotificationKind::Welcome, &long, "b").is_err());
    }
}
