//! Execution of query plans (our own): walks the plan tree, sends each fetch to its subgraph,
//! merges results into one data tree by path, then projects that tree onto the client's
//! operation (aliases, fragments, `@include`/`@skip`, null propagation).
//!
//! The data tree sits behind a mutex that is held only while reading representations or
//! merging a response, never across an await, so Parallel nodes really run in parallel.

pub mod fetch;
pub mod introspection;
pub mod projection;

use std::{collections::HashMap, sync::Mutex};

use axum::http::HeaderMap;
use bytes::Bytes;
use futures::{FutureExt, future::BoxFuture};
use hive_router_query_planner::{
    ast::{selection_item::SelectionItem, selection_set::SelectionSet},
    planner::plan_nodes::{
        BatchFetchNode, FetchNode, FetchNodePathSegment, FetchRewrite, FlattenNodePathSegment,
        PlanNode,
    },
};
use serde_json::{Map, Value};

use crate::{
    error::{GraphQLError, codes},
    planner::{
        PreparedOperation,
        schema::{SchemaIndex, TypeKind},
    },
};
use fetch::{FetchError, SubgraphClient, SubgraphResponse};

/// The outcome of one operation: `data` as JSON text (already projected) and the errors.
#[derive(Debug)]
pub struct ExecutionOutput {
    pub data: Option<Vec<u8>>,
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

/// Runs `input.prepared`'s plan and projects the result.
pub async fn execute(input: ExecutionInput<'_>) -> ExecutionOutput {
    execute_with_initial(input, Value::Object(Map::new()), None).await
}

/// Runs the plan starting from `initial` data, skipping `skip` (a subscription's event is
/// the primary fetch's result; the rest of the plan adds entity fields to it).
pub async fn execute_with_initial(
    input: ExecutionInput<'_>,
    initial: Value,
    skip: Option<&PlanNode>,
) -> ExecutionOutput {
    let run = Run {
        schema: input.schema,
        client: input.client,
        variables: input.variables,
        headers: input.headers,
        data: Mutex::new(initial),
        errors: Mutex::new(Vec::new()),
    };
    if let Some(plan) = &input.prepared.plan {
        run.node(plan, skip).await;
    }
    let introspection =
        introspection::resolve(input.schema, &input.prepared.introspection, input.variables);
    let data = run.data.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut errors = run.errors.into_inner().unwrap_or_else(|p| p.into_inner());
    let projected = projection::project(
        input.schema,
        &input.prepared.operation,
        input.prepared.kind,
        &data,
        &introspection,
        input.variables,
    );
    projection::add_violations(&mut errors, projected.violations);
    ExecutionOutput {
        data: Some(projected.json),
        errors,
    }
}

/// One element of a response path.
#[derive(Debug, Clone, PartialEq)]
enum PathElem {
    Key(String),
    Index(usize),
}

impl PathElem {
    fn to_json(&self) -> Value {
        match self {
            Self::Key(k) => Value::String(k.clone()),
            Self::Index(i) => Value::from(*i),
        }
    }
}

struct Run<'a> {
    schema: &'a SchemaIndex,
    client: &'a SubgraphClient,
    variables: &'a Map<String, Value>,
    headers: &'a HeaderMap,
    data: Mutex<Value>,
    errors: Mutex<Vec<GraphQLError>>,
}

/// Representations to send and, for each, the response paths of the entities it stands for.
struct EntityBatch {
    representations: Vec<Value>,
    paths: Vec<Vec<Vec<PathElem>>>,
}

impl<'a> Run<'a> {
    fn node<'b>(&'b self, node: &'b PlanNode, skip: Option<&'b PlanNode>) -> BoxFuture<'b, ()> {
        async move {
            if skip.is_some_and(|s| std::ptr::eq(s, node)) {
                return;
            }
            match node {
                PlanNode::Fetch(fetch) => self.fetch(&[], fetch).await,
                PlanNode::Flatten(flatten) => match flatten.node.as_ref() {
                    PlanNode::Fetch(fetch) => self.fetch(flatten.path.as_slice(), fetch).await,
                    other => self.node(other, skip).await,
                },
                PlanNode::BatchFetch(batch) => self.batch_fetch(batch).await,
                PlanNode::Sequence(seq) => {
                    for child in &seq.nodes {
                        self.node(child, skip).await;
                    }
                }
                PlanNode::Parallel(par) => {
                    futures::future::join_all(par.nodes.iter().map(|n| self.node(n, skip))).await;
                }
                PlanNode::Condition(cond) => {
                    let on = self
                        .variables
                        .get(&cond.condition)
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let branch = if on {
                        cond.if_clause.as_deref()
                    } else {
                        cond.else_clause.as_deref()
                    };
                    if let Some(branch) = branch {
                        self.node(branch, skip).await;
                    }
                }
                PlanNode::Subscription(sub) => {
                    // Reached only when a subscription plan runs over HTTP, which the HTTP
                    // layer refuses; the websocket path skips the primary fetch.
                    self.error(GraphQLError::new(
                        format!(
                            "subscriptions to '{}' need a websocket",
                            sub.primary.service_name
                        ),
                        codes::OPERATION_NOT_SUPPORTED,
                    ));
                }
                PlanNode::Defer(_) => self.error(GraphQLError::new(
                    "@defer is not supported by this router",
                    codes::DEFER_NOT_SUPPORTED,
                )),
            }
        }
        .boxed()
    }

    fn error(&self, error: GraphQLError) {
        if let Ok(mut errors) = self.errors.lock() {
            errors.push(error);
        }
    }

    /// A fetch that got no answer. For an entity fetch the error points at the first
    /// entity whose fields are missing (as Apollo Router does), so a client can tell which
    /// part of its data is absent; a root fetch's error has no path.
    fn fetch_failed(&self, service: &str, e: &FetchError, entity: Option<&[PathElem]>) {
        let mut error = GraphQLError::new(e.client_message(service), e.code())
            .with_extension("serviceName", service);
        if let Some(entity) = entity {
            error = error.with_path(entity.iter().map(PathElem::to_json).collect());
        }
        self.error(error);
    }

    /// The request variables a fetch uses.
    fn used_variables(
        &self,
        usages: Option<&std::collections::BTreeSet<String>>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for name in usages.into_iter().flatten() {
            if let Some(value) = self.variables.get(name) {
                out.insert(name.clone(), value.clone());
            }
        }
        out
    }

    async fn fetch(&self, path: &[FlattenNodePathSegment], node: &FetchNode) {
        let Some(requires) = &node.requires else {
            return self.root_fetch(path, node).await;
        };
        let batch = {
            let Ok(data) = self.data.lock() else { return };
            self.collect_entities(&data, path, requires, node.input_rewrites.as_deref())
        };
        if batch.representations.is_empty() {
            return;
        }
        let mut variables = self.used_variables(node.variable_usages.as_ref());
        variables.insert(
            "representations".into(),
            Value::Array(batch.representations),
        );
        let body = request_body(&node.operation.document_str, variables);
        let response = self
            .client
            .send(&node.service_name, body, self.headers)
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let entity = batch.paths.first().and_then(|p| p.first());
                return self.fetch_failed(&node.service_name, &e, entity.map(Vec::as_slice));
            }
        };
        let entities = match response.data {
            Some(Value::Object(mut data)) => match data.remove("_entities") {
                Some(Value::Array(entities)) => entities,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        self.merge_entities(entities, &batch.paths, node.output_rewrites.as_deref());
        self.subgraph_errors(
            &node.service_name,
            response.errors,
            "_entities",
            &batch.paths,
        );
    }

    async fn root_fetch(&self, path: &[FlattenNodePathSegment], node: &FetchNode) {
        let variables = self.used_variables(node.variable_usages.as_ref());
        let body = request_body(&node.operation.document_str, variables);
        let response = self
            .client
            .send(&node.service_name, body, self.headers)
            .await;
        let SubgraphResponse { data, errors } = match response {
            Ok(r) => r,
            Err(e) => return self.fetch_failed(&node.service_name, &e, None),
        };
        if let Some(mut data) = data {
            if let Some(rewrites) = node.output_rewrites.as_deref() {
                for rewrite in rewrites {
                    apply_rewrite(self.schema, rewrite, &mut data);
                }
            }
            if let Ok(mut root) = self.data.lock() {
                let at = path_prefix(path);
                match get_path_mut(&mut root, &at) {
                    Some(target) => deep_merge(self.schema, target, data),
                    None => tracing::warn!("a root fetch's path is missing from the response"),
                }
            }
        }
        for raw in errors {
            let path = raw.get("path").and_then(Value::as_array).cloned();
            self.error(GraphQLError::from_subgraph(&raw, &node.service_name, path));
        }
    }

    async fn batch_fetch(&self, node: &BatchFetchNode) {
        let mut variables = self.used_variables(node.variable_usages.as_ref());
        let mut per_alias = Vec::new();
        {
            let Ok(data) = self.data.lock() else { return };
            for alias in &node.entity_batch.aliases {
                let mut merged = EntityBatch {
                    representations: Vec::new(),
                    paths: Vec::new(),
                };
                let mut seen: HashMap<String, usize> = HashMap::new();
                for merge_path in &alias.merge_paths {
                    let batch = self.collect_entities(
                        &data,
                        merge_path.as_slice(),
                        &alias.requires,
                        alias.input_rewrites.as_deref(),
                    );
                    for (rep, paths) in batch.representations.into_iter().zip(batch.paths) {
                        let key = rep.to_string();
                        match seen.get(&key) {
                            Some(&i) => merged.paths[i].extend(paths),
                            None => {
                                seen.insert(key, merged.representations.len());
                                merged.representations.push(rep);
                                merged.paths.push(paths);
                            }
                        }
                    }
                }
                variables.insert(
                    alias.representations_variable_name.clone(),
                    Value::Array(std::mem::take(&mut merged.representations)),
                );
                per_alias.push(merged.paths);
            }
        }
        if per_alias.iter().all(Vec::is_empty) {
            return;
        }
        let body = request_body(&node.operation.document_str, variables);
        let response = match self
            .client
            .send(&node.service_name, body, self.headers)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let entity = per_alias.iter().flatten().next().and_then(|p| p.first());
                return self.fetch_failed(&node.service_name, &e, entity.map(Vec::as_slice));
            }
        };
        let mut data = match response.data {
            Some(Value::Object(data)) => data,
            _ => Map::new(),
        };
        for (alias, paths) in node.entity_batch.aliases.iter().zip(&per_alias) {
            let entities = match data.remove(&alias.alias) {
                Some(Value::Array(entities)) => entities,
                _ => Vec::new(),
            };
            self.merge_entities(entities, paths, alias.output_rewrites.as_deref());
        }
        for raw in response.errors {
            let path = raw.get("path").and_then(Value::as_array);
            let alias = path.and_then(|p| p.first()).and_then(Value::as_str);
            let position =
                alias.and_then(|a| node.entity_batch.aliases.iter().position(|x| x.alias == a));
            match position {
                Some(i) => self.subgraph_errors(
                    &node.service_name,
                    vec![raw.clone()],
                    &node.entity_batch.aliases[i].alias,
                    &per_alias[i],
                ),
                None => self.error(GraphQLError::from_subgraph(&raw, &node.service_name, None)),
            }
        }
    }

    /// Representations for the entities at `path`, deduplicated.
    fn collect_entities(
        &self,
        data: &Value,
        path: &[FlattenNodePathSegment],
        requires: &SelectionSet,
        input_rewrites: Option<&[FetchRewrite]>,
    ) -> EntityBatch {
        let mut found = Vec::new();
        let mut current = Vec::new();
        collect_at_path(self.schema, data, path, &mut current, &mut found);
        let mut batch = EntityBatch {
            representations: Vec::new(),
            paths: Vec::new(),
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (entity_path, entity) in found {
            let Some(mut rep) = project_requires(self.schema, &requires.items, entity) else {
                continue;
            };
            for rewrite in input_rewrites.into_iter().flatten() {
                apply_rewrite(self.schema, rewrite, &mut rep);
            }
            let key = rep.to_string();
            match seen.get(&key) {
                Some(&i) => batch.paths[i].push(entity_path),
                None => {
                    seen.insert(key, batch.representations.len());
                    batch.representations.push(rep);
                    batch.paths.push(vec![entity_path]);
                }
            }
        }
        batch
    }

    fn merge_entities(
        &self,
        entities: Vec<Value>,
        paths: &[Vec<Vec<PathElem>>],
        output_rewrites: Option<&[FetchRewrite]>,
    ) {
        let Ok(mut root) = self.data.lock() else {
            return;
        };
        for (mut entity, targets) in entities.into_iter().zip(paths) {
            if entity.is_null() {
                continue;
            }
            for rewrite in output_rewrites.into_iter().flatten() {
                apply_rewrite(self.schema, rewrite, &mut entity);
            }
            let last = targets.len().saturating_sub(1);
            for (i, target) in targets.iter().enumerate() {
                let Some(slot) = get_path_mut(&mut root, target) else {
                    continue;
                };
                if i == last {
                    deep_merge(self.schema, slot, std::mem::take(&mut entity));
                    break;
                }
                deep_merge(self.schema, slot, entity.clone());
            }
        }
    }

    /// Subgraph errors with their `_entities` paths turned into the client's paths.
    fn subgraph_errors(
        &self,
        service: &str,
        errors: Vec<Value>,
        root_key: &str,
        paths: &[Vec<Vec<PathElem>>],
    ) {
        for raw in errors {
            let path = raw.get("path").and_then(Value::as_array).and_then(|p| {
                if p.first().and_then(Value::as_str) != Some(root_key) {
                    return None;
                }
                let index = p.get(1).and_then(Value::as_u64)? as usize;
                let entity = paths.get(index)?.first()?;
                let mut out: Vec<Value> = entity.iter().map(PathElem::to_json).collect();
                out.extend(p.iter().skip(2).cloned());
                Some(out)
            });
            self.error(GraphQLError::from_subgraph(&raw, service, path));
        }
    }
}

fn request_body(query: &str, variables: Map<String, Value>) -> Bytes {
    let mut body = Map::new();
    body.insert("query".into(), Value::String(query.to_owned()));
    if !variables.is_empty() {
        body.insert("variables".into(), Value::Object(variables));
    }
    Bytes::from(serde_json::to_vec(&Value::Object(body)).unwrap_or_default())
}

fn typename(value: &Value) -> Option<&str> {
    value.get("__typename").and_then(Value::as_str)
}

/// Finds every object at `path` (through lists and type conditions) with its response path.
fn collect_at_path<'v>(
    schema: &SchemaIndex,
    value: &'v Value,
    path: &[FlattenNodePathSegment],
    current: &mut Vec<PathElem>,
    out: &mut Vec<(Vec<PathElem>, &'v Value)>,
) {
    if let Value::Array(items) = value {
        // Lists are walked whether or not the path spells out `@`.
        let rest = match path.first() {
            Some(FlattenNodePathSegment::List) => &path[1..],
            _ => path,
        };
        for (i, item) in items.iter().enumerate() {
            current.push(PathElem::Index(i));
            collect_at_path(schema, item, rest, current, out);
            current.pop();
        }
        return;
    }
    let Value::Object(object) = value else { return };
    match path.first() {
        None => out.push((current.clone(), value)),
        Some(FlattenNodePathSegment::Field(name)) => {
            if let Some(child) = object.get(name) {
                current.push(PathElem::Key(name.clone()));
                collect_at_path(schema, child, &path[1..], current, out);
                current.pop();
            }
        }
        Some(FlattenNodePathSegment::List) => {
            collect_at_path(schema, value, &path[1..], current, out)
        }
        Some(FlattenNodePathSegment::TypeCondition(types)) => {
            let matches = match typename(value) {
                Some(t) => types.iter().any(|c| schema.type_matches(t, c)),
                None => true,
            };
            if matches {
                collect_at_path(schema, value, &path[1..], current, out);
            }
        }
    }
}

/// The leading field names of a flatten path (for root fetches nested by the planner).
fn path_prefix(path: &[FlattenNodePathSegment]) -> Vec<PathElem> {
    path.iter()
        .filter_map(|s| s.to_field().map(|f| PathElem::Key(f.clone())))
        .collect()
}

fn get_path_mut<'v>(root: &'v mut Value, path: &[PathElem]) -> Option<&'v mut Value> {
    let mut current = root;
    for elem in path {
        current = match (elem, current) {
            (PathElem::Key(k), Value::Object(o)) => o.get_mut(k)?,
            (PathElem::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Merges `source` into `target`: objects key by key, equal-length lists item by item;
/// a null never replaces data another subgraph already provided, and an `@interfaceObject`
/// subgraph's `__typename` (the interface's name) never replaces a concrete one.
pub(crate) fn deep_merge(schema: &SchemaIndex, target: &mut Value, source: Value) {
    match (target, source) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                match t.get_mut(&k) {
                    Some(existing) if k == "__typename" => {
                        let abstract_over_concrete =
                            v.as_str().zip(existing.as_str()).is_some_and(|(new, old)| {
                                new != old
                                    && schema.get(new).is_some_and(|t| t.kind != TypeKind::Object)
                                    && schema.get(old).is_some_and(|t| t.kind == TypeKind::Object)
                            });
                        if !abstract_over_concrete && !v.is_null() {
                            *existing = v;
                        }
                    }
                    Some(existing) => deep_merge(schema, existing, v),
                    None => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(s)) if t.len() == s.len() => {
            for (existing, v) in t.iter_mut().zip(s) {
                deep_merge(schema, existing, v);
            }
        }
        (_, Value::Null) => {}
        (t, s) => *t = s,
    }
}

/// The representation of `entity` for a fetch's `requires` selection: `__typename` plus the
/// key and required fields. `None` when no field is present (a null key), so the entity is
/// not sent.
fn project_requires(
    schema: &SchemaIndex,
    items: &[SelectionItem],
    entity: &Value,
) -> Option<Value> {
    let Value::Object(object) = entity else {
        return None;
    };
    let mut out = Map::new();
    project_requires_into(schema, items, object, &mut out);
    let has_fields = out.keys().any(|k| k != "__typename");
    if !has_fields {
        return None;
    }
    if let Some(t) = object.get("__typename")
        && !out.contains_key("__typename")
    {
        out.insert("__typename".into(), t.clone());
    }
    // `__typename` first reads better in logs; subgraphs do not care about order.
    Some(Value::Object(out))
}

fn project_requires_into(
    schema: &SchemaIndex,
    items: &[SelectionItem],
    object: &Map<String, Value>,
    out: &mut Map<String, Value>,
) {
    let runtime = object.get("__typename").and_then(Value::as_str);
    for item in items {
        match item {
            SelectionItem::Field(field) => {
                let value = object
                    .get(field.selection_identifier())
                    .or_else(|| object.get(&field.name));
                let Some(value) = value.filter(|v| !v.is_null()) else {
                    continue;
                };
                let projected = if field.selections.is_empty() {
                    value.clone()
                } else {
                    project_nested(schema, &field.selections.items, value)
                };
                out.insert(field.name.clone(), projected);
            }
            SelectionItem::InlineFragment(fragment) => {
                let applies = match runtime {
                    Some(t) => {
                        schema.type_matches(t, &fragment.type_condition)
                            || schema.type_matches(&fragment.type_condition, t)
                    }
                    None => true,
                };
                if applies {
                    project_requires_into(schema, &fragment.selections.items, object, out);
                }
            }
            SelectionItem::FragmentSpread(_) => {}
        }
    }
}

fn project_nested(schema: &SchemaIndex, items: &[SelectionItem], value: &Value) -> Value {
    match value {
        Value::Array(list) => Value::Array(
            list.iter()
                .map(|v| project_nested(schema, items, v))
                .collect(),
        ),
        Value::Object(object) => {
            let mut out = Map::new();
            project_requires_into(schema, items, object, &mut out);
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Applies a planner rewrite: a value setter (e.g. `__typename` of an `@interfaceObject`
/// representation) or a key renamer (an internal alias back to its field name).
fn apply_rewrite(schema: &SchemaIndex, rewrite: &FetchRewrite, value: &mut Value) {
    match rewrite {
        FetchRewrite::ValueSetter(setter) => {
            set_value(schema, &setter.path, &setter.set_value_to, value)
        }
        FetchRewrite::KeyRenamer(renamer) => {
            rename_key(schema, &renamer.path, &renamer.rename_key_to, value)
        }
    }
}

fn type_condition_holds(
    schema: &SchemaIndex,
    types: &std::collections::BTreeSet<String>,
    value: &Value,
) -> bool {
    match typename(value) {
        Some(t) => types.iter().any(|c| schema.type_matches(t, c)),
        None => true,
    }
}

fn set_value(schema: &SchemaIndex, path: &[FetchNodePathSegment], to: &str, value: &mut Value) {
    if let Value::Array(items) = value {
        for item in items {
            set_value(schema, path, to, item);
        }
        return;
    }
    let Some(first) = path.first() else {
        *value = Value::String(to.to_owned());
        return;
    };
    match first {
        FetchNodePathSegment::TypenameEquals(types) => {
            if type_condition_holds(schema, types, value) {
                set_value(schema, &path[1..], to, value);
            }
        }
        FetchNodePathSegment::Key(key) => {
            if let Value::Object(object) = value {
                if path.len() == 1 {
                    object.insert(key.clone(), Value::String(to.to_owned()));
                } else if let Some(child) = object.get_mut(key) {
                    set_value(schema, &path[1..], to, child);
                }
            }
        }
    }
}

fn rename_key(schema: &SchemaIndex, path: &[FetchNodePathSegment], to: &str, value: &mut Value) {
    if let Value::Array(items) = value {
        for item in items {
            rename_key(schema, path, to, item);
        }
        return;
    }
    let Some(first) = path.first() else { return };
    match first {
        FetchNodePathSegment::TypenameEquals(types) => {
            if type_condition_holds(schema, types, value) {
                rename_key(schema, &path[1..], to, value);
            }
        }
        FetchNodePathSegment::Key(key) => {
            if let Value::Object(object) = value {
                if path.len() == 1 {
                    if key != to
                        && let Some(v) = object.remove(key)
                    {
                        object.insert(to.to_owned(), v);
                    }
                } else if let Some(child) = object.get_mut(key) {
                    rename_key(schema, &path[1..], to, child);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_merge_keeps_existing_data_and_merges_lists_by_position() {
        let schema = SchemaIndex::new(&graphql_tools::parser::parse_schema::<String>(
            "type Query { a: Int } interface Media { id: ID } type Book implements Media { id: ID }",
        )
        .unwrap()
        .into_static());
        let mut target = json!({"a": {"x": 1}, "list": [{"id": 1}, {"id": 2}], "keep": 5});
        deep_merge(
            &schema,
            &mut target,
            json!({"a": {"y": 2}, "list": [{"n": "a"}, {"n": "b"}], "keep": null}),
        );
        assert_eq!(
            target,
            json!({"a": {"x": 1, "y": 2}, "list": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}], "keep": 5})
        );
        // The interface's name from an @interfaceObject subgraph does not hide the concrete
        // type; a concrete name does replace the interface's.
        let mut book = json!({"__typename": "Book", "id": "1"});
        deep_merge(
            &schema,
            &mut book,
            json!({"__typename": "Media", "rating": 4}),
        );
        assert_eq!(book, json!({"__typename": "Book", "id": "1", "rating": 4}));
        let mut media = json!({"__typename": "Media", "id": "1"});
        deep_merge(
            &schema,
            &mut media,
            json!({"__typename": "Book", "title": "Dune"}),
        );
        assert_eq!(media["__typename"], "Book");
    }
}
