//! Synchronous entry points for `benches/policy.rs`: each policy stage of the pipeline on
//! its own, so that what it adds to a request's CPU can be measured without the network's
//! noise. Not an API; the router itself never calls it.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    auth::Caller,
    authorization,
    config::{ApqConfig, AuthorizationConfig, LimitsConfig, PersistedDocumentsConfig},
    demand_control::Estimator,
    persisted::{Named, PersistedOperations, sha256_hex},
    planner::{PreparedOperation, Supergraph},
};

/// The platform's supergraph, its `me` operation prepared, and the policy stages set up
/// to serve it: APQ with `me` registered, the platform's manifest, a signed-in caller.
pub struct PolicyBench {
    supergraph: Arc<Supergraph>,
    prepared: Arc<PreparedOperation>,
    apq: PersistedOperations,
    documents: PersistedOperations,
    authorization: AuthorizationConfig,
    caller: Caller,
    hash: String,
    document_id: String,
    no_variables: serde_json::Map<String, Value>,
}

impl PolicyBench {
    /// `supergraph` and `manifest` are file paths; `query` is the operation, which must be in
    /// the manifest under its SHA-256.
    pub async fn new(supergraph: &str, manifest: &str, query: &str) -> anyhow::Result<Self> {
        let sdl = std::fs::read_to_string(supergraph)?;
        let supergraph = Arc::new(Supergraph::from_sdl(
            &sdl,
            LimitsConfig::default(),
            64,
            &|_| None,
        )?);
        let prepared = supergraph
            .prepare(query, None)
            .await
            .map_err(|e| anyhow::anyhow!("{:?}", e.errors))?;
        let apq =
            PersistedOperations::new(&ApqConfig::default(), &PersistedDocumentsConfig::default())
                .await?;
        let hash = sha256_hex(query);
        let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
        apq.resolve(Named {
            query: Some(query),
            document_id: None,
            extensions: Some(&extensions),
        })
        .await
        .map_err(|e| anyhow::anyhow!("{:?}", e.errors))?;
        let documents = PersistedOperations::new(
            &ApqConfig {
                enabled: false,
                ..Default::default()
            },
            &PersistedDocumentsConfig {
                path: Some(manifest.into()),
                ..Default::default()
            },
        )
        .await?;
        Ok(Self {
            supergraph,
            prepared,
            apq,
            documents,
            authorization: AuthorizationConfig::default(),
            caller: Caller {
                subject: "1".into(),
                claims: json!({ "sub": "1", "role": "USER", "scope": "user" }),
                authorization: axum::http::HeaderValue::from_static("Bearer x"),
            },
            document_id: hash.clone(),
            hash,
            no_variables: serde_json::Map::new(),
        })
    }

    /// The APQ stage for a request that sends the hash alone.
    pub async fn apq_hit(&self) -> bool {
        let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": self.hash } });
        matches!(
            self.apq
                .resolve(Named {
                    query: None,
                    document_id: None,
                    extensions: Some(&extensions),
                })
                .await,
            Ok(Some(_))
        )
    }

    /// The persisted documents stage for a request that sends `documentId`.
    pub async fn document_hit(&self) -> bool {
        matches!(
            self.documents
                .resolve(Named {
                    query: None,
                    document_id: Some(&self.document_id),
                    extensions: None,
                })
                .await,
            Ok(Some(_))
        )
    }

    /// The authorization stage: the operation's guards judged for the caller.
    pub fn authorize(&self) -> bool {
        let guards = self
            .prepared
            .access
            .as_ref()
            .map(|a| a.guards.as_slice())
            .unwrap_or_default();
        !authorization::judge(&self.authorization, guards, Some(&self.caller)).any()
            && !guards.is_empty()
    }

    /// The cost stage: the estimate.
    pub fn estimate(&self) -> u64 {
        Estimator {
            rules: &self.supergraph.cost,
            schema: &self.supergraph.schema,
            variables: &self.no_variables,
            default_list_size: 10,
        }
        .operation(&self.prepared.operation.selection_set, self.prepared.kind)
    }
}
