use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// A typed event payload with its routing key.
pub trait Event: Serialize + DeserializeOwned {
    /// The CloudEvents `type`, also the RabbitMQ routing key (e.g. `user.registered`).
    const TYPE: &'static str;
    /// The CloudEvents `subject`: the entity the event is about.
    fn subject(&self) -> String;
}

/// A CloudEvents 1.0 envelope (structured JSON mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub specversion: String,
    /// Unique per event; consumers deduplicate on it.
    pub id: Uuid,
    /// The producing service, e.g. `/auth`.
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: DateTime<Utc>,
    #[serde(default = "json_content_type")]
    pub datacontenttype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub data: serde_json::Value,
}

fn json_content_type() -> String {
    "application/json".into()
}

/// Why an incoming message is not a usable event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a CloudEvents JSON envelope: {0}")]
    Envelope(serde_json::Error),
    #[error("unsupported specversion {0:?}")]
    SpecVersion(String),
    #[error("expected a {expected} event, got {actual}")]
    WrongType { expected: String, actual: String },
    #[error("bad data for {event_type}: {source}")]
    Data {
        event_type: String,
        source: serde_json::Error,
    },
}

impl Envelope {
    /// Wraps `event`, produced by `source`, with a fresh id and the current time.
    pub fn new<E: Event>(source: &str, event: &E) -> Result<Self, serde_json::Error> {
        Ok(Self {
            specversion: "1.0".into(),
            id: Uuid::now_v7(),
            source: source.into(),
            event_type: E::TYPE.into(),
            time: Utc::now(),
            datacontenttype: json_content_type(),
            subject: Some(event.subject()),
            data: serde_json::to_value(event)?,
        })
    }

    /// Parses a message body, checking the envelope's shape and version.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        let envelope: Self = serde_json::from_slice(bytes).map_err(DecodeError::Envelope)?;
        if envelope.specversion != "1.0" {
            return Err(DecodeError::SpecVersion(envelope.specversion));
        }
        Ok(envelope)
    }

    pub fn to_vec(&self) -> Vec<u8> {
        // Serialising a Value-backed struct cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The typed payload, if this envelope carries an `E`.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        if self.event_type != E::TYPE {
            return Err(DecodeError::WrongType {
                expected: E::TYPE.into(),
                actual: self.event_type.clone(),
            });
        }
        serde_json::from_value(self.data.clone()).map_err(|source| DecodeError::Data {
            event_type: self.event_type.clone(),
            source,
        })
    }
}
