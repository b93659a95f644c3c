//! The persisted documents manifest: Apollo's persisted query manifest
//! (`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id",
//! "body", ...}]}`) or a plain `{"<id>": "<document>"}` map. Loaded at start (a bad file
//! stops the router) and reloaded when the file changes (a bad file is logged and the
//! current manifest stays).

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, SystemTime},
};

use serde::Deserialize;

/// The documents an application may send, by id.
#[derive(Debug, Default)]
pub struct Manifest {
    by_id: HashMap<Box<str>, Arc<str>>,
    bodies: HashSet<Arc<str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ManifestFile {
    Apollo {
        format: String,
        version: u32,
        operations: Vec<ApolloOperation>,
    },
    Map(HashMap<String, String>),
}

#[derive(Deserialize)]
struct ApolloOperation {
    id: String,
    body: String,
}

impl Manifest {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: ManifestFile = serde_json::from_str(text).map_err(|_| {
            anyhow::anyhow!(
                "not a persisted documents manifest: expected Apollo's format or a JSON object of id to document"
            )
        })?;
        let entries: Vec<(String, String)> = match file {
            ManifestFile::Apollo {
                format,
                version,
                operations,
            } => {
                if format != "apollo-persisted-query-manifest" || version != 1 {
                    anyhow::bail!(
                        "unsupported manifest format {format:?} version {version}: expected apollo-persisted-query-manifest version 1"
                    );
                }
                operations.into_iter().map(|o| (o.id, o.body)).collect()
            }
            ManifestFile::Map(map) => map.into_iter().collect(),
        };
        let mut manifest = Self::default();
        for (id, body) in entries {
            let body: Arc<str> = body.into();
            manifest.bodies.insert(Arc::clone(&body));
            manifest.by_id.insert(id.into(), body);
        }
        Ok(manifest)
    }

    /// The document with this id; `sha256:<hex>` (the GraphQL over HTTP persisted
    /// documents form) and plain `<hex>` name the same one.
    pub fn by_id(&self, id: &str) -> Option<Arc<str>> {
        self.by_id
            .get(id)
            .or_else(|| self.by_id.get(id.strip_prefix("sha256:")?))
            .cloned()
    }

    pub fn contains_body(&self, body: &str) -> bool {
        self.bodies.contains(body)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// A manifest file and its current content.
pub(super) struct Watched {
    path: PathBuf,
    poll: Duration,
    current: RwLock<Arc<Manifest>>,
}

impl Watched {
    pub(super) async fn load(path: &Path, poll_interval_ms: u64) -> anyhow::Result<Self> {
        let manifest = read(path).await?;
        tracing::info!(path = %path.display(), documents = manifest.len(), "persisted documents loaded");
        Ok(Self {
            path: path.to_owned(),
            poll: Duration::from_millis(poll_interval_ms.max(1)),
            current: RwLock::new(Arc::new(manifest)),
        })
    }

    pub(super) fn current(&self) -> Arc<Manifest> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Polls the file; a changed one replaces the manifest when it parses.
    pub(super) async fn watch(&self) {
        let modified = |path: PathBuf| async move {
            tokio::fs::metadata(path)
                .await
                .and_then(|m| m.modified())
                .ok()
        };
        let mut last: Option<SystemTime> = modified(self.path.clone()).await;
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = modified(self.path.clone()).await;
            if now.is_none() || now == last {
                continue;
            }
            last = now;
            match read(&self.path).await {
                Ok(manifest) => {
                    tracing::info!(path = %self.path.display(), documents = manifest.len(), "persisted documents reloaded");
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                        Arc::new(manifest);
                }
                Err(e) => {
                    tracing::error!(path = %self.path.display(), error = %e, "persisted documents reload failed; keeping the current ones");
                }
            }
        }
    }
}

async fn read(path: &Path) -> anyhow::Result<Manifest> {
    let text = tokio::fs::read_to_string(path).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot read the persisted documents {}: {e}",
            path.display()
        )
    })?;
    Manifest::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_manifest_formats_load() {
        let apollo = Manifest::parse(
            r#"{"format":"apollo-persisted-query-manifest","version":1,
               "operations":[{"id":"abc","name":"Me","type":"query","body":"query Me { me { id } }"}]}"#,
        )
        .unwrap();
        assert_eq!(
            apollo.by_id("abc").as_deref(),
            Some("query Me { me { id } }")
        );
        assert_eq!(
            apollo.by_id("sha256:abc").as_deref(),
            Some("query Me { me { id } }")
        );
        assert!(apollo.contains_body("query Me { me { id } }"));
        let map = Manifest::parse(r#"{"k1": "{ __typename }"}"#).unwrap();
        assert_eq!(map.by_id("k1").as_deref(), Some("{ __typename }"));
        assert!(map.by_id("k2").is_none());
    }

    #[test]
    fn a_foreign_manifest_is_refused() {
        assert!(Manifest::parse(r#"{"format":"other","version":1,"operations":[]}"#).is_err());
        assert!(Manifest::parse(r#"[1, 2]"#).is_err());
        assert!(Manifest::parse(r#"{"k": 1}"#).is_err());
    }
}
