//! Execution of query plans (our own): walks the compiled plan, sends each fetch to its
//! subgraph, parses every answer once into one data tree (`tree`) and merges it there by
//! path, then writes the response from the operation (`projection`) straight into the
//! response buffer.
//!
//! The tree sits behind a mutex that is held only while representations are written or an
//! answer is merged, never across an await, so Parallel steps really run in parallel.

pub(crate) mod entities;
pub mod fetch;
pub mod introspection;
pub(crate) mod plan;
pub(crate) mod projection;
pub(crate) mod tree;

use std::sync::Mutex;

use axum::http::HeaderMap;
use bytes::Bytes;
use futures::{FutureExt, future::BoxFuture};
use serde_json::{Map, Value};

use crate::{
    error::{GraphQLError, codes},
    planner::{PreparedOperation, schema::SchemaIndex},
};
use entities::{PathElem, Targets};
use fetch::{FetchError, SubgraphClient};
use plan::{Batch, Fetch, PathSegment, Step};
use tree::{Node, NodeId, ROOT, Tree};

/// The outcome of one operation: the whole GraphQL response payload
/// (`{"data":…,"errors":[…]}`) as JSON, and the errors in it (for metrics).
#[derive(Debug, Clone)]
pub struct ExecutionOutput {
    pub body: Bytes,
    pub errors: Vec<GraphQLError>,
}

/// What one execution needs besides the plan.
pub struct ExecutionInput<'a> {
    pub schema: &'a SchemaIndex,
    pub client: &'a SubgraphClient,
    pub prepared: &'a PreparedOperation,
    pub variables: &'a Map<String, Value>,
    /// Headers sent to every subgraph (authorization, trace context, claims).
    pub headers: &'a HeaderMap,
}

/// Runs `input.prepared`'s plan and writes the response.
pub async fn execute(input: ExecutionInput<'_>) -> ExecutionOutput {
    run(input, None).await
}

/// Runs the plan after its subscription's primary fetch, on one event: `event` is the
/// event's payload (`{"data":…,"errors":…}`) as `service` sent it.
pub async fn execute_event(
    input: ExecutionInput<'_>,
    event: Bytes,
    service: &str,
) -> ExecutionOutput {
    run(input, Some((event, service))).await
}

async fn run(input: ExecutionInput<'_>, event: Option<(Bytes, &str)>) -> ExecutionOutput {
    let prepared = input.prepared;
    let mut tree = prepared.sizes.tree();
    let mut errors = prepared.authorization_errors.clone();
    let subscription_event = event.is_some();
    if let Some((payload, service)) = event {
        match tree.parse_response(payload) {
            Ok(parsed) => {
                if let Some(data) = parsed.data {
                    tree.merge(input.schema, ROOT, data);
                }
                for raw in parsed.errors {
                    let path = raw.get("path").and_then(Value::as_array).cloned();
                    errors.push(GraphQLError::from_subgraph(&raw, service, path));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.0, "a subscription event is not a GraphQL response");
                errors.push(
                    GraphQLError::new(
                        "the subgraph sent an invalid event",
                        codes::SUBGRAPH_INVALID_RESPONSE,
                    )
                    .with_extension("serviceName", service),
                );
            }
        }
    }
    let run = Run {
        schema: input.schema,
        client: input.client,
        variables: input.variables,
        headers: input.headers,
        dedupe: !prepared.kind.is_mutation(),
        state: Mutex::new(State { tree, errors }),
    };
    if let Some(steps) = &prepared.steps {
        run.step(steps, subscription_event).await;
    }
    let State { tree, mut errors } = run.state.into_inner().unwrap_or_else(|p| p.into_inner());
    let introspection =
        introspection::resolve(input.schema, &prepared.introspection, input.variables);
    let mut body = Vec::with_capacity(prepared.sizes.body().max(tree.input_bytes() + 64));
    body.extend_from_slice(b"{\"data\":");
    let violations = projection::write_data(
        &prepared.response,
        &tree,
        ROOT,
        &introspection,
        input.variables,
        &mut body,
    );
    projection::add_violations(&mut errors, violations);
    if !errors.is_empty() {
        body.extend_from_slice(b",\"errors\":");
        let _ = serde_json::to_writer(&mut body, &errors);
    }
    body.push(b'}');
    prepared.sizes.record(&tree, body.len());
    ExecutionOutput {
        body: Bytes::from(body),
        errors,
    }
}

struct State {
    tree: Tree,
    errors: Vec<GraphQLError>,
}

struct Run<'a> {
    schema: &'a SchemaIndex,
    client: &'a SubgraphClient,
    variables: &'a Map<String, Value>,
    headers: &'a HeaderMap,
    /// Identical concurrent subgraph requests may share one answer (never for mutations).
    dedupe: bool,
    state: Mutex<State>,
}

impl Run<'_> {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn step<'b>(&'b self, step: &'b Step, skip_subscription: bool) -> BoxFuture<'b, ()> {
        async move {
            match step {
                Step::Fetch(fetch) => self.fetch(fetch).await,
                Step::Batch(batch) => self.batch(batch).await,
                Step::Sequence(steps) => {
                    for child in steps {
                        self.step(child, skip_subscription).await;
                    }
                }
                Step::Parallel(steps) => {
                    futures::future::join_all(
                        steps.iter().map(|s| self.step(s, skip_subscription)),
                    )
                    .await;
                }
                Step::Condition {
                    variable,
                    then,
                    otherwise,
                } => {
                    let on = self.variables.get(variable).and_then(Value::as_bool) == Some(true);
                    let branch = if on { then } else { otherwise };
                    if let Some(branch) = branch {
                        self.step(branch, skip_subscription).await;
                    }
                }
                Step::Subscription(fetch) => {
                    // The event stream itself belongs to the transport, which ran it and
                    // handed the event in; over a plain request there is none.
                    if !skip_subscription {
                        self.error(GraphQLError::new(
                            format!(
                                "subscriptions to '{}' need a streaming transport",
                                fetch.request.service
                            ),
                            codes::OPERATION_NOT_SUPPORTED,
                        ));
                    }
                }
            }
        }
        .boxed()
    }

    fn error(&self, error: GraphQLError) {
        self.state().errors.push(error);
    }

    /// A fetch that got no answer. For an entity fetch the error points at the first
    /// entity whose fields are missing (as Apollo Router does), so a client can tell which
    /// part of its data is absent; a root fetch's error has no path.
    fn fetch_failed(&self, service: &str, e: &FetchError, entity: Option<Vec<PathElem>>) {
        let mut error = GraphQLError::new(e.client_message(service), e.code())
            .with_extension("serviceName", service);
        if let Some(entity) = entity {
            error = error.with_path(entity.iter().map(PathElem::to_json).collect());
        }
        self.error(error);
    }

    /// Sends a request body and parses the answer into the tree. `Err` when there was no
    /// GraphQL answer.
    async fn send(
        &self,
        request: &plan::Request,
        body: Vec<u8>,
    ) -> Result<fetch::SubgraphResponse, FetchError> {
        self.client
            .send(
                &request.service,
                Bytes::from(body),
                self.headers,
                self.dedupe && !request.is_mutation,
            )
            .await
    }

    async fn fetch(&self, fetch: &Fetch) {
        let Some(entity) = &fetch.entity else {
            return self.root_fetch(fetch).await;
        };
        let mut body = Vec::with_capacity(fetch.request.body_prefix.len() + 256);
        body.extend_from_slice(&fetch.request.body_prefix);
        body.extend_from_slice(b",\"variables\":{\"representations\":");
        let targets = {
            let mut state = self.state();
            entities::write_representations(
                &mut state.tree,
                self.schema,
                ROOT,
                &[fetch.path.as_slice()],
                entity,
                &mut body,
            )
        };
        if targets.count == 0 {
            return;
        }
        entities::write_variables(&fetch.request.variables, self.variables, &mut body, false);
        body.extend_from_slice(b"}}");
        let answer = self.send(&fetch.request, body).await;
        let service = &fetch.request.service;
        let mut state = self.state();
        let State { tree, errors } = &mut *state;
        let parsed = answer.and_then(|a| a.parse(tree));
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                let first = first_entity_path(tree, self.schema, &[&fetch.path], &targets);
                drop(state);
                return self.fetch_failed(service, &e, first);
            }
        };
        let list = parsed
            .data
            .and_then(|d| tree.get(d, "_entities"))
            .map(|l| list_items(tree, l))
            .unwrap_or_default();
        // Paths before the merge: merged answers may add objects along other paths.
        if !parsed.errors.is_empty() {
            let paths = entity_paths(tree, self.schema, &[&fetch.path], &targets);
            for raw in &parsed.errors {
                errors.push(entity_error(raw, service, "_entities", &paths));
            }
        }
        entities::merge_answers(tree, self.schema, &targets, &list, &fetch.output_rewrites);
    }

    async fn root_fetch(&self, fetch: &Fetch) {
        let mut body = Vec::with_capacity(fetch.request.body_prefix.len() + 64);
        body.extend_from_slice(&fetch.request.body_prefix);
        if fetch
            .request
            .variables
            .iter()
            .any(|v| self.variables.contains_key(v))
        {
            body.extend_from_slice(b",\"variables\":{");
            entities::write_variables(&fetch.request.variables, self.variables, &mut body, true);
            body.push(b'}');
        }
        body.push(b'}');
        let answer = self.send(&fetch.request, body).await;
        let service = &fetch.request.service;
        let mut state = self.state();
        let State { tree, errors } = &mut *state;
        let parsed = match answer.and_then(|a| a.parse(tree)) {
            Ok(p) => p,
            Err(e) => {
                drop(state);
                return self.fetch_failed(service, &e, None);
            }
        };
        if let Some(data) = parsed.data {
            for rewrite in &fetch.output_rewrites {
                entities::apply_rewrite(tree, self.schema, data, &rewrite.path, rewrite);
            }
            // A root fetch the planner nested (its path holds field names only).
            let mut at = ROOT;
            let mut found = true;
            for segment in &fetch.path {
                if let PathSegment::Field(name) = segment {
                    match tree.get(at, name) {
                        Some(child) => at = child,
                        None => {
                            found = false;
                            break;
                        }
                    }
                }
            }
            if found {
                tree.merge(self.schema, at, data);
            } else {
                tracing::warn!("a root fetch's path is missing from the response");
            }
        }
        for raw in parsed.errors {
            let path = raw.get("path").and_then(Value::as_array).cloned();
            errors.push(GraphQLError::from_subgraph(&raw, service, path));
        }
    }

    async fn batch(&self, batch: &Batch) {
        let mut body = Vec::with_capacity(batch.request.body_prefix.len() + 512);
        body.extend_from_slice(&batch.request.body_prefix);
        body.extend_from_slice(b",\"variables\":{");
        let mut per_input: Vec<Targets> = Vec::with_capacity(batch.inputs.len());
        {
            let mut state = self.state();
            for (i, input) in batch.inputs.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                tree::write_escaped(&mut body, &input.variable);
                body.push(b':');
                let paths: Vec<&[PathSegment]> = input.paths.iter().map(Vec::as_slice).collect();
                per_input.push(entities::write_representations(
                    &mut state.tree,
                    self.schema,
                    ROOT,
                    &paths,
                    &input.entity,
                    &mut body,
                ));
            }
        }
        if per_input.iter().all(|t| t.count == 0) {
            return;
        }
        entities::write_variables(&batch.request.variables, self.variables, &mut body, false);
        body.extend_from_slice(b"}}");
        let answer = self.send(&batch.request, body).await;
        let service = &batch.request.service;
        let mut state = self.state();
        let State { tree, errors } = &mut *state;
        let parsed = match answer.and_then(|a| a.parse(tree)) {
            Ok(p) => p,
            Err(e) => {
                let first = batch
                    .inputs
                    .iter()
                    .zip(&per_input)
                    .find_map(|(input, targets)| {
                        let paths: Vec<&[PathSegment]> =
                            input.paths.iter().map(Vec::as_slice).collect();
                        first_entity_path(tree, self.schema, &paths, targets)
                    });
                drop(state);
                return self.fetch_failed(service, &e, first);
            }
        };
        for raw in &parsed.errors {
            let alias = raw
                .get("path")
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .and_then(Value::as_str)
                .and_then(|a| batch.aliases.iter().find(|x| x.alias == a));
            match alias {
                Some(alias) => {
                    let input = &batch.inputs[alias.input];
                    let paths: Vec<&[PathSegment]> =
                        input.paths.iter().map(Vec::as_slice).collect();
                    let entity_paths =
                        entity_paths(tree, self.schema, &paths, &per_input[alias.input]);
                    errors.push(entity_error(raw, service, &alias.alias, &entity_paths));
                }
                None => errors.push(GraphQLError::from_subgraph(raw, service, None)),
            }
        }
        for alias in &batch.aliases {
            let list = parsed
                .data
                .and_then(|d| tree.get(d, &alias.alias))
                .map(|l| list_items(tree, l))
                .unwrap_or_default();
            entities::merge_answers(
                tree,
                self.schema,
                &per_input[alias.input],
                &list,
                &alias.output_rewrites,
            );
        }
    }
}

fn list_items(tree: &Tree, list: NodeId) -> Vec<NodeId> {
    match tree.node(list) {
        Node::Array { start, len } => tree.items(start, len).to_vec(),
        _ => Vec::new(),
    }
}

/// For each representation index, the response path of the first entity it stands for.
fn entity_paths(
    tree: &Tree,
    schema: &SchemaIndex,
    paths: &[&[PathSegment]],
    targets: &Targets,
) -> Vec<Option<Vec<PathElem>>> {
    let mut all = Vec::new();
    for path in paths {
        entities::collect_paths(tree, schema, ROOT, path, &mut Vec::new(), &mut all);
    }
    let mut by_index = vec![None; targets.count as usize];
    // Entities without a representation were skipped when the targets were made, so the
    // paths are matched to targets by node, in order.
    let mut found = Vec::new();
    for path in paths {
        entities::collect(tree, schema, ROOT, path, &mut found);
    }
    let mut places = targets.places.iter().peekable();
    for (node, path) in found.into_iter().zip(all) {
        if let Some(&&(place, index)) = places.peek()
            && place == node
        {
            places.next();
            let slot = &mut by_index[index as usize];
            if slot.is_none() {
                *slot = Some(path);
            }
        }
    }
    by_index
}

fn first_entity_path(
    tree: &Tree,
    schema: &SchemaIndex,
    paths: &[&[PathSegment]],
    targets: &Targets,
) -> Option<Vec<PathElem>> {
    entity_paths(tree, schema, paths, targets)
        .into_iter()
        .flatten()
        .next()
}

/// A subgraph error of an entity fetch, with its `[root_key, i, …]` path turned into the
/// client's path of the entity `i` stands for.
fn entity_error(
    raw: &Value,
    service: &str,
    root_key: &str,
    paths: &[Option<Vec<PathElem>>],
) -> GraphQLError {
    let path = raw.get("path").and_then(Value::as_array).and_then(|p| {
        if p.first().and_then(Value::as_str) != Some(root_key) {
            return None;
        }
        let index = p.get(1).and_then(Value::as_u64)? as usize;
        let entity = paths.get(index)?.as_ref()?;
        let mut out: Vec<Value> = entity.iter().map(PathElem::to_json).collect();
        out.extend(p.iter().skip(2).cloned());
        Some(out)
    });
    GraphQLError::from_subgraph(raw, service, path)
}
