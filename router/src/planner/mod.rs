//! Planning: from a request's document to a prepared operation (validated, normalized and
//! planned), kept in a bounded cache. Execution lives in `executor` and never plans.
//!
//! The planner is `hive-router-query-planner`; it receives the normalized operation and
//! emits a plan tree of Fetch/Flatten/Sequence/Parallel/Condition/Subscription nodes.
//! `@include`/`@skip` on variables become Condition nodes, so a plan never depends on
//! variable values and the cache key is the document text plus the operation name.

pub(crate) mod defer;
pub mod schema;
pub mod variables;

use std::{
    collections::{HashMap, HashSet},
    hash::{DefaultHasher, Hash, Hasher},
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::StatusCode;
use graphql_tools::{
    static_graphql::query::{self as q, Definition},
    validation::{
        rules::default_rules_validation_plan, utils::ValidationError, validate::ValidationPlan,
    },
};
use hashlink::LruCache;
use hive_router_query_planner::{
    ast::{
        normalization::normalize_operation,
        operation::OperationDefinition,
        selection_item::SelectionItem,
        selection_set::{FieldSelection, SelectionSet},
    },
    graph::{PERCENTAGE_SCALE_FACTOR as PERCENTAGE_SCALE, PlannerOverrideContext},
    planner::{Planner, QueryPlannerOptions, plan_nodes::PlanNode},
    utils::{cancellation::CancellationToken, parsing::safe_parse_schema},
};
use serde_json::Value;

use futures::FutureExt;

use crate::{
    authorization::{self, AccessRules},
    config::LimitsConfig,
    dedupe::InFlight,
    error::{GraphQLError, Location, RequestError, codes},
    executor::{plan::Step, projection::ResponsePlan, tree::SizeHints},
    limits,
};
use schema::{OperationType, SchemaIndex, TypeRef};

/// A subgraph the supergraph names, with the URL requests go to.
#[derive(Debug, Clone)]
pub struct SubgraphInfo {
    pub name: String,
    pub url: String,
}

/// A declared variable of the client's operation.
#[derive(Debug, Clone)]
pub struct VariableInfo {
    pub name: String,
    pub ty: TypeRef,
    pub default: Option<Value>,
}

/// Everything execution needs about one operation; shared by every request that sends it.
#[derive(Debug)]
pub struct PreparedOperation {
    pub kind: OperationType,
    pub name: Option<String>,
    /// The normalized client operation: the shape of the response.
    pub operation: OperationDefinition,
    /// `None` when nothing has to be fetched (only `__typename` or introspection).
    /// Shared with every other document that normalizes to the same operation.
    pub plan: Option<Arc<PlanNode>>,
    /// Root `__schema`/`__type` fields, answered by the router itself.
    pub introspection: Vec<FieldSelection>,
    pub variables: Vec<VariableInfo>,
    /// Names of the root fields, for rate-limit budgets by operation.
    pub root_fields: Vec<String>,
    /// The plan compiled for the executor (shared like the plan).
    pub(crate) steps: Option<Arc<Step>>,
    /// The response's shape, compiled for projection.
    pub(crate) response: ResponsePlan,
    /// How large its executions grow.
    pub(crate) sizes: SizeHints,
    /// Its request metrics, registered once.
    pub(crate) metrics: crate::telemetry::RequestMetrics,
    /// Its deferred fragments, when it has any (`@defer`).
    pub(crate) defer: Option<Arc<defer::DeferInfo>>,
    /// Where its fields need authorization, when anywhere.
    pub(crate) access: Option<Arc<Access>>,
    /// For an operation with unauthorized fields removed: an error for each.
    pub(crate) authorization_errors: Vec<GraphQLError>,
    /// Its estimated cost, kept when no variable can change it (it declares none).
    pub(crate) cost: std::sync::OnceLock<u64>,
}

/// An operation's guarded places and, by the set a caller is denied, the operation planned
/// without them.
#[derive(Debug)]
pub(crate) struct Access {
    pub guards: Vec<authorization::Guard>,
    variants: Mutex<HashMap<Vec<bool>, Arc<PreparedOperation>>>,
}

/// Variants kept per operation; beyond them a variant is planned for its request alone.
const MAX_ACCESS_VARIANTS: usize = 32;

type Prepared = Result<Arc<PreparedOperation>, Arc<RequestError>>;

/// A document being planned: its text, operation name and progressive-override bucket.
type PlanningKey = (String, Option<String>, usize);

/// A plan with the canonical text of the operation it was made for.
type PlanEntry = (String, usize, Planned);

/// A plan and its compiled form.
type Planned = Option<(Arc<PlanNode>, Arc<Step>)>;

struct CacheEntry {
    query: Box<str>,
    operation_name: Option<Box<str>>,
    override_bucket: usize,
    prepared: Prepared,
}

/// A loaded supergraph: the planner, the API schema and the plan cache.
pub struct Supergraph {
    planner: Planner,
    pub schema: Arc<SchemaIndex>,
    pub subgraphs: HashMap<String, SubgraphInfo>,
    validation: ValidationPlan,
    /// By hash of (document, operation name); entries keep both to rule out collisions.
    cache: Mutex<LruCache<u64, CacheEntry>>,
    /// Plans by normalized operation (its canonical text, hashed), shared across documents.
    plans: Mutex<LruCache<u64, PlanEntry>>,
    limits: LimitsConfig,
    /// Hash of the SDL text, to tell a changed file from a touched one.
    pub sdl_hash: u64,
    /// Thresholds of progressive `@override(label: "percent(x)")`, scaled and sorted.
    override_percentages: Vec<u64>,
    /// `router_plan_cache_total{result="hit"}`, registered once (every request counts).
    cache_hits: metrics::Counter,
    /// Documents being planned now.
    planning: Arc<InFlight<PlanningKey, Prepared>>,
    /// The supergraph's authorization directives.
    pub access: AccessRules,
    /// The supergraph's cost directives.
    pub cost: crate::demand_control::CostRules,
}

/// Which progressive overrides are on for one request: a random draw, and the bucket it
/// falls in (how many thresholds it passed). Plans depend on the bucket only.
#[derive(Debug, Clone, Copy)]
struct OverrideDraw {
    value: u64,
    bucket: usize,
}

impl std::fmt::Debug for Supergraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supergraph")
            .field("subgraphs", &self.subgraphs)
            .finish_non_exhaustive()
    }
}

impl Supergraph {
    /// Builds from SDL text. `url_for` may replace a subgraph's routing URL.
    pub fn from_sdl(
        sdl: &str,
        limits: LimitsConfig,
        cache_capacity: usize,
        url_for: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let document = safe_parse_schema(sdl)
            .map_err(|e| anyhow::anyhow!("the supergraph does not parse: {e}"))?;
        // The planner asserts on malformed supergraphs; a bad file must not take the
        // router down (especially on reload), so a panic becomes an error here.
        let planner = std::panic::catch_unwind(AssertUnwindSafe(|| {
            Planner::new_from_supergraph(&document, QueryPlannerOptions::default())
        }))
        .map_err(|_| anyhow::anyhow!("the supergraph is not a valid Federation v2 supergraph"))?
        .map_err(|e| anyhow::anyhow!("the supergraph cannot be planned over: {e}"))?;
        let schema = Arc::new(SchemaIndex::new(&planner.consumer_schema.document));
        let access = AccessRules::from_supergraph(&document);
        let cost = crate::demand_control::CostRules::from_supergraph(&document);
        let subgraphs = planner
            .supergraph
            .subgraph_endpoint_map
            .iter()
            .map(|(name, url)| {
                let url = url_for(name).unwrap_or_else(|| url.clone());
                (
                    name.clone(),
                    SubgraphInfo {
                        name: name.clone(),
                        url,
                    },
                )
            })
            .collect();
        let capacity = cache_capacity.max(1);
        let mut override_percentages: Vec<u64> = planner
            .supergraph
            .progressive_overrides
            .percentages
            .iter()
            .copied()
            .collect();
        override_percentages.sort_unstable();
        Ok(Self {
            override_percentages,
            planner,
            schema,
            subgraphs,
            validation: default_rules_validation_plan(),
            cache: Mutex::new(LruCache::new(capacity)),
            plans: Mutex::new(LruCache::new(capacity)),
            limits,
            sdl_hash: hash_str(sdl),
            cache_hits: metrics::counter!("router_plan_cache_total", "result" => "hit"),
            planning: Arc::default(),
            access,
            cost,
        })
    }

    /// The prepared operation for a request, from the cache or freshly planned.
    /// Planning runs on the blocking pool: it is CPU work that can take a while.
    pub async fn prepare(
        self: &Arc<Self>,
        query: &str,
        operation_name: Option<&str>,
    ) -> Result<Arc<PreparedOperation>, Arc<RequestError>> {
        let draw = self.override_draw();
        // A fast hash: the whole document is compared on a hit, so a collision is harmless.
        let key = {
            use std::hash::BuildHasher;
            rustc_hash::FxBuildHasher.hash_one((query, operation_name, draw.bucket))
        };
        if let Some(hit) = self.cache_get(key, query, operation_name, draw.bucket) {
            self.cache_hits.increment(1);
            return hit;
        }
        metrics::counter!("router_plan_cache_total", "result" => "miss").increment(1);
        let this = Arc::clone(self);
        let owned_query = query.to_owned();
        let owned_name = operation_name.map(str::to_owned);
        // Identical documents arriving together (a cold cache under load) are planned once
        // and share one prepared operation.
        let parent = tracing::Span::current();
        let prepared = self
            .planning
            .run(
                (owned_query.clone(), owned_name.clone(), draw.bucket),
                move || {
                    async move {
                        tokio::task::spawn_blocking(move || {
                            let _span =
                                service_kit::exported_span!(parent: &parent, "query_planning")
                                    .entered();
                            let (query, operation_name) = (owned_query, owned_name);
                            let started = std::time::Instant::now();
                            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                                this.prepare_uncached(&query, operation_name.as_deref(), draw)
                            }))
                            .unwrap_or_else(|_| {
                                tracing::error!("the query planner panicked");
                                Err(planning_failed())
                            });
                            metrics::histogram!("router_planning_duration_seconds")
                                .record(started.elapsed().as_secs_f64());
                            result.map(Arc::new).map_err(Arc::new)
                        })
                        .await
                        .unwrap_or_else(|_| Err(Arc::new(planning_failed())))
                    }
                    .boxed()
                },
                |_| {},
            )
            .await;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                key,
                CacheEntry {
                    query: query.into(),
                    operation_name: operation_name.map(Into::into),
                    override_bucket: draw.bucket,
                    prepared: prepared.clone(),
                },
            );
        }
        prepared
    }

    fn cache_get(
        &self,
        key: u64,
        query: &str,
        operation_name: Option<&str>,
        override_bucket: usize,
    ) -> Option<Prepared> {
        let mut cache = self.cache.lock().ok()?;
        let entry = cache.get(&key)?;
        (&*entry.query == query
            && entry.operation_name.as_deref() == operation_name
            && entry.override_bucket == override_bucket)
            .then(|| entry.prepared.clone())
    }

    /// Draws the request's place in the progressive-override percentages: a field with
    /// `percent(p)` is served by its new subgraph for draws below `p`.
    fn override_draw(&self) -> OverrideDraw {
        if self.override_percentages.is_empty() {
            return OverrideDraw {
                value: 0,
                bucket: 0,
            };
        }
        let value = rand::Rng::gen_range(&mut rand::thread_rng(), 0..100 * PERCENTAGE_SCALE);
        let bucket = self
            .override_percentages
            .iter()
            .filter(|p| **p <= value)
            .count();
        OverrideDraw { value, bucket }
    }

    /// [`Self::prepare`] without the caches' first level, the blocking pool or the panic
    /// guard, for the fuzz harness (`crate::fuzzing`): a planner panic must surface there.
    pub(crate) fn prepare_unguarded(
        &self,
        query: &str,
        operation_name: Option<&str>,
    ) -> Result<PreparedOperation, RequestError> {
        self.prepare_uncached(query, operation_name, self.override_draw())
    }

    fn prepare_uncached(
        &self,
        query: &str,
        operation_name: Option<&str>,
        draw: OverrideDraw,
    ) -> Result<PreparedOperation, RequestError> {
        let document = graphql_tools::parser::parse_query_with_token_limit::<String>(
            query,
            self.limits.max_tokens,
        )
        .map(|d| d.into_static())
        .map_err(|e| {
            let message = e.to_string();
            let code = if message.contains("limit") {
                codes::LIMIT_EXCEEDED
            } else {
                codes::ErrorCode::GraphqlParseFailed.as_str()
            };
            RequestError::bad_request(first_line(&message), code)
        })?;

        let operation = select_operation(&document, operation_name)?;
        let shape = limits::measure(&document, operation);
        limits::check(shape, &self.limits)
            .map_err(|m| RequestError::bad_request(m, codes::LIMIT_EXCEEDED))?;

        // Before validation: the API schema may not declare these directives, and the
        // router's own answer is clearer than "unknown directive".
        if defer::uses(&document, "stream") {
            return Err(RequestError::bad_request(
                "@stream is not supported by this router",
                codes::STREAM_NOT_SUPPORTED,
            ));
        }
        if defer::uses(&document, "defer") {
            // The operation with every @defer removed is validated and planned like any
            // other; the analysis says how to split it when a client takes a stream.
            let info = defer::DeferInfo::analyse(&document, operation)?;
            let mut prepared = self.prepare_uncached(&info.inlined, operation_name, draw)?;
            prepared.defer = Some(Arc::new(info));
            return Ok(prepared);
        }
        let errors = graphql_tools::validation::validate::validate(
            &self.planner.consumer_schema.document,
            &document,
            &self.validation,
        );
        if !errors.is_empty() {
            return Err(RequestError {
                status: StatusCode::BAD_REQUEST,
                errors: errors.into_iter().map(validation_error).collect(),
                retry_after: None,
            });
        }
        if let Err(message) = check_meta_fields(&document, operation) {
            return Err(RequestError::bad_request(
                message,
                codes::ErrorCode::GraphqlValidationFailed.as_str(),
            ));
        }

        let kind = match operation {
            q::OperationDefinition::Mutation(_) => OperationType::Mutation,
            q::OperationDefinition::Subscription(_) => OperationType::Subscription,
            _ => OperationType::Query,
        };
        if self.schema.root_type(kind).is_none() {
            return Err(RequestError::bad_request(
                format!("the schema has no {} type", kind.as_str()),
                codes::ErrorCode::GraphqlValidationFailed.as_str(),
            ));
        }
        let variables = variable_definitions(operation);

        let normalized = normalize_operation(&self.planner.supergraph, &document, operation_name)
            .map_err(|e| {
            RequestError::bad_request(
                e.to_string(),
                codes::ErrorCode::GraphqlValidationFailed.as_str(),
            )
        })?;
        let full = normalized.operation;

        let (introspection, remaining) = split_introspection(&full.selection_set);
        if !introspection.is_empty() && !self.limits.introspection {
            return Err(RequestError::bad_request(
                "introspection is disabled",
                codes::INTROSPECTION_DISABLED,
            ));
        }
        let root_fields: Vec<String> = full
            .selection_set
            .items
            .iter()
            .filter_map(|i| match i {
                SelectionItem::Field(f) if !f.name.starts_with("__") => Some(f.name.clone()),
                _ => None,
            })
            .collect();

        let planned = if remaining.items.iter().all(is_typename) {
            None
        } else {
            let mut to_plan = full.clone();
            to_plan.selection_set = remaining;
            // Plans never depend on the operation's name: leave it out so they are shared.
            to_plan.name = None;
            self.plan_normalized(&to_plan, draw)?
        };
        if planned
            .as_ref()
            .is_some_and(|(plan, _)| contains_defer(plan))
        {
            return Err(RequestError::bad_request(
                "@defer is not supported by this router",
                codes::DEFER_NOT_SUPPORTED,
            ));
        }
        let response = ResponsePlan::compile(&self.schema, &full, kind);
        let (plan, steps) = match planned {
            Some((plan, steps)) => (Some(plan), Some(steps)),
            None => (None, None),
        };
        let guards = match self.schema.root_type(kind) {
            Some(root) => authorization::guards(&self.access, &self.schema, &full, root),
            None => Vec::new(),
        };
        Ok(PreparedOperation {
            steps,
            response,
            sizes: SizeHints::default(),
            metrics: Default::default(),
            defer: None,
            access: (!guards.is_empty()).then(|| {
                Arc::new(Access {
                    guards,
                    variants: Mutex::default(),
                })
            }),
            authorization_errors: Vec::new(),
            cost: Default::default(),
            kind,
            name: normalized
                .operation_name
                .or_else(|| operation_name.map(str::to_owned)),
            operation: full,
            plan,
            introspection,
            variables,
            root_fields,
        })
    }
}

impl Supergraph {
    /// `base` without the places `verdict` denies, planned (once per denied set).
    pub(crate) fn authorized_variant(
        &self,
        base: &PreparedOperation,
        access: &Access,
        verdict: &authorization::Verdict,
    ) -> Result<Arc<PreparedOperation>, RequestError> {
        if let Ok(variants) = access.variants.lock()
            && let Some(hit) = variants.get(&verdict.denied)
        {
            return Ok(Arc::clone(hit));
        }
        let filtered = authorization::without(&base.operation, &access.guards, verdict);
        let (_, remaining) = split_introspection(&filtered.selection_set);
        let planned = if remaining.items.iter().all(is_typename) {
            None
        } else {
            let mut to_plan = filtered;
            to_plan.selection_set = remaining;
            to_plan.name = None;
            self.plan_normalized(&to_plan, self.override_draw())?
        };
        let (plan, steps) = match planned {
            Some((plan, steps)) => (Some(plan), Some(steps)),
            None => (None, None),
        };
        let variant = Arc::new(PreparedOperation {
            kind: base.kind,
            name: base.name.clone(),
            operation: base.operation.clone(),
            plan,
            introspection: base.introspection.clone(),
            variables: base.variables.clone(),
            root_fields: base.root_fields.clone(),
            steps,
            // The client's whole operation: what was removed is null in the answer.
            response: ResponsePlan::compile(&self.schema, &base.operation, base.kind),
            sizes: SizeHints::default(),
            metrics: Default::default(),
            defer: None,
            access: None,
            authorization_errors: verdict.errors(&access.guards),
            cost: Default::default(),
        });
        if let Ok(mut variants) = access.variants.lock()
            && variants.len() < MAX_ACCESS_VARIANTS
        {
            variants.insert(verdict.denied.clone(), Arc::clone(&variant));
        }
        Ok(variant)
    }

    /// Plans a normalized operation, reusing the plan of any earlier document that
    /// normalized to the same operation (other whitespace, names, fragment layout).
    /// The canonical text is compared on a hit, so a hash collision cannot share a plan.
    fn plan_normalized(
        &self,
        operation: &OperationDefinition,
        draw: OverrideDraw,
    ) -> Result<Planned, RequestError> {
        let canonical = operation.to_string();
        let key = hash_str(&canonical) ^ (draw.bucket as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if let Ok(mut plans) = self.plans.lock()
            && let Some((text, bucket, plan)) = plans.get(&key)
            && *text == canonical
            && *bucket == draw.bucket
        {
            metrics::counter!("router_plan_cache_total", "result" => "normalized_hit").increment(1);
            return Ok(plan.clone());
        }
        let token =
            CancellationToken::with_timeout(Duration::from_millis(self.limits.planning_timeout_ms));
        let plan = self
            .planner
            .plan_from_normalized_operation(
                operation,
                PlannerOverrideContext::new(HashSet::new(), draw.value),
                &token,
            )
            .map_err(|e| {
                tracing::warn!(error = %e, "query planning failed");
                planning_failed()
            })?
            .node
            .map(|node| {
                let steps = crate::executor::plan::compile(&self.schema, &node);
                (Arc::new(node), Arc::new(steps))
            });
        if let Ok(mut plans) = self.plans.lock() {
            plans.insert(key, (canonical, draw.bucket, plan.clone()));
        }
        Ok(plan)
    }
}

fn planning_failed() -> RequestError {
    RequestError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        GraphQLError::new(
            "the operation could not be planned",
            codes::QUERY_PLANNING_FAILED,
        ),
    )
}

fn first_line(message: &str) -> String {
    message
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

fn hash_str(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn validation_error(e: ValidationError) -> GraphQLError {
    GraphQLError::new(
        e.message,
        codes::ErrorCode::GraphqlValidationFailed.as_str(),
    )
    .with_locations(
        e.locations
            .iter()
            .map(|p| Location {
                line: p.line,
                column: p.column,
            })
            .collect(),
    )
}

/// The operation a request runs: the named one, or the only one.
fn select_operation<'d>(
    document: &'d q::Document,
    name: Option<&str>,
) -> Result<&'d q::OperationDefinition, RequestError> {
    let operations: Vec<&q::OperationDefinition> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(o) => Some(o),
            Definition::Fragment(_) => None,
        })
        .collect();
    let found = match name {
        Some(name) => operations
            .iter()
            .find(|o| operation_name(o) == Some(name))
            .copied(),
        None if operations.len() == 1 => operations.first().copied(),
        None if operations.is_empty() => None,
        None => {
            return Err(RequestError::bad_request(
                "the document has several operations: operationName is required",
                codes::OPERATION_NOT_FOUND,
            ));
        }
    };
    found.ok_or_else(|| {
        let message = match name {
            Some(name) => format!("unknown operation named \"{name}\""),
            None => "the document has no operation".to_owned(),
        };
        RequestError::bad_request(message, codes::OPERATION_NOT_FOUND)
    })
}

fn operation_name(op: &q::OperationDefinition) -> Option<&str> {
    match op {
        q::OperationDefinition::SelectionSet(_) => None,
        q::OperationDefinition::Query(q) => q.name.as_deref(),
        q::OperationDefinition::Mutation(m) => m.name.as_deref(),
        q::OperationDefinition::Subscription(s) => s.name.as_deref(),
    }
}

fn variable_definitions(op: &q::OperationDefinition) -> Vec<VariableInfo> {
    let defs = match op {
        q::OperationDefinition::SelectionSet(_) => return Vec::new(),
        q::OperationDefinition::Query(q) => &q.variable_definitions,
        q::OperationDefinition::Mutation(m) => &m.variable_definitions,
        q::OperationDefinition::Subscription(s) => &s.variable_definitions,
    };
    defs.iter()
        .map(|d| VariableInfo {
            name: d.name.clone(),
            ty: type_ref(&d.var_type),
            default: d.default_value.as_ref().map(const_value),
        })
        .collect()
}

fn type_ref(ty: &q::Type) -> TypeRef {
    match ty {
        q::Type::NamedType(n) => TypeRef::Named(n.clone()),
        q::Type::ListType(inner) => TypeRef::List(Box::new(type_ref(inner))),
        q::Type::NonNullType(inner) => TypeRef::NonNull(Box::new(type_ref(inner))),
    }
}

/// A literal from the document as JSON (variables cannot appear in defaults).
fn const_value(v: &q::Value) -> Value {
    match v {
        q::Value::Variable(_) | q::Value::Null => Value::Null,
        q::Value::Int(i) => i.as_i64().map(Value::from).unwrap_or(Value::Null),
        q::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        q::Value::String(s) => Value::String(s.clone()),
        q::Value::Boolean(b) => Value::Bool(*b),
        q::Value::Enum(e) => Value::String(e.clone()),
        q::Value::List(l) => Value::Array(l.iter().map(const_value).collect()),
        q::Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), const_value(v))).collect())
        }
    }
}

/// What graphql-tools' validation lets through about meta-fields (`__name`) and the planner
/// cannot take. Its field check skips every `__` field, so unknown ones and selections on
/// `__typename` pass (and the planner then fails); and the planner's normalization panics
/// on an inline fragment without a type condition below a meta-field, e.g.
/// `{ __schema { ... { types { name } } } }` (found by fuzzing, `fuzz/`).
fn check_meta_fields(
    document: &q::Document,
    operation: &q::OperationDefinition,
) -> Result<(), String> {
    let fragments: HashMap<&str, &q::FragmentDefinition> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name.as_str(), f)),
            Definition::Operation(_) => None,
        })
        .collect();
    let (set, query) = match operation {
        q::OperationDefinition::SelectionSet(s) => (s, true),
        q::OperationDefinition::Query(q) => (&q.selection_set, true),
        q::OperationDefinition::Mutation(m) => (&m.selection_set, false),
        q::OperationDefinition::Subscription(s) => (&s.selection_set, false),
    };
    MetaFieldCheck {
        fragments,
        seen: HashSet::new(),
    }
    .check(set, false, query)
}

struct MetaFieldCheck<'d> {
    fragments: HashMap<&'d str, &'d q::FragmentDefinition>,
    /// Fragments already checked, by where they were spread (inside a meta-field, at the
    /// query root): each is walked at most four times.
    seen: HashSet<(&'d str, bool, bool)>,
}

impl<'d> MetaFieldCheck<'d> {
    /// `query_root`: `set` is the root selection of a query, the only place `__schema` and
    /// `__type` exist (elsewhere the planner failed with a 500, found by fuzzing).
    fn check(
        &mut self,
        set: &'d q::SelectionSet,
        in_meta: bool,
        query_root: bool,
    ) -> Result<(), String> {
        for selection in &set.items {
            match selection {
                q::Selection::Field(f) => {
                    let meta = f.name.starts_with("__");
                    if meta && !matches!(f.name.as_str(), "__typename" | "__schema" | "__type") {
                        return Err(format!("Cannot query field \"{}\".", f.name));
                    }
                    if matches!(f.name.as_str(), "__schema" | "__type") && !query_root {
                        return Err(format!(
                            "Cannot query field \"{}\" here: introspection is on the root of a query only.",
                            f.name
                        ));
                    }
                    if f.name == "__typename" && !f.selection_set.items.is_empty() {
                        return Err("Field \"__typename\" must not have a selection since type \"String!\" has no subfields.".into());
                    }
                    self.check(&f.selection_set, in_meta || meta, false)?;
                }
                q::Selection::InlineFragment(i) => {
                    if in_meta && i.type_condition.is_none() {
                        return Err("an inline fragment inside an introspection field needs a type condition, such as `... on __Type`".into());
                    }
                    self.check(&i.selection_set, in_meta, query_root)?;
                }
                q::Selection::FragmentSpread(s) => {
                    let name = s.fragment_name.as_str();
                    if let Some(fragment) = self.fragments.get(name).copied()
                        && self.seen.insert((name, in_meta, query_root))
                    {
                        self.check(&fragment.selection_set, in_meta, query_root)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn is_typename(item: &SelectionItem) -> bool {
    matches!(item, SelectionItem::Field(f) if f.name == "__typename")
}

/// Root `__schema`/`__type` fields are answered locally; the rest goes to the planner.
fn split_introspection(set: &SelectionSet) -> (Vec<FieldSelection>, SelectionSet) {
    let mut introspection = Vec::new();
    let mut rest = SelectionSet::default();
    for item in &set.items {
        match item {
            SelectionItem::Field(f) if f.name == "__schema" || f.name == "__type" => {
                introspection.push(f.clone());
            }
            other => rest.items.push(other.clone()),
        }
    }
    (introspection, rest)
}

fn contains_defer(node: &PlanNode) -> bool {
    match node {
        PlanNode::Defer(_) => true,
        PlanNode::Sequence(s) => s.nodes.iter().any(contains_defer),
        PlanNode::Parallel(p) => p.nodes.iter().any(contains_defer),
        PlanNode::Flatten(f) => contains_defer(&f.node),
        PlanNode::Condition(c) => {
            c.if_clause.as_deref().is_some_and(contains_defer)
                || c.else_clause.as_deref().is_some_and(contains_defer)
        }
        PlanNode::Fetch(_) | PlanNode::BatchFetch(_) | PlanNode::Subscription(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Supergraph {
        Supergraph::from_sdl(
            include_str!("../../../schema/supergraph.graphql"),
            LimitsConfig::default(),
            8,
            &|_| None,
        )
        .unwrap()
    }

    /// Documents graphql-tools validates but the planner panics on (the router turned the
    /// panic into a 500) or cannot plan: each must now be a validation error, without a panic.
    #[test]
    fn meta_field_misuse_is_a_validation_error_not_a_planner_panic() {
        let supergraph = platform();
        for query in [
            "{ __schema { ... { types { name } } } }",
            "{ __foo { ... { a } } }",
            "{ me { ...F } } fragment F on User { __x { ... { id } } }",
            "{ __typename { ... { a } } }",
            "{ __typename { a } }",
            "{ me { __schema { queryType { name } } } }",
            "{ me { ... on User { __type(name: \"User\") { name } } } }",
            "mutation { __schema { types { name } } }",
            "{ __foo }",
            "{ me { __foo { id } } }",
        ] {
            let error = supergraph.prepare_unguarded(query, None).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(
                error.errors[0].code(),
                Some(codes::ErrorCode::GraphqlValidationFailed.as_str()),
                "{query}"
            );
        }
    }

    #[test]
    fn introspection_with_typed_fragments_and_typename_still_plans() {
        let supergraph = platform();
        for query in [
            "{ __schema { ... on __Schema { types { name } } } }",
            "{ __schema { ...S } } fragment S on __Schema { queryType { name } }",
            "{ __type(name: \"User\") { name } __typename me { __typename ... { id } } }",
            "{ ... on Query { __schema { queryType { name } } } }",
            "{ ...Q } fragment Q on Query { __type(name: \"User\") { name } }",
        ] {
            let prepared = supergraph.prepare_unguarded(query, None);
            assert!(prepared.is_ok(), "{query}: {prepared:?}");
        }
    }
}
