//! Executing `@defer` (the split itself is `planner::defer`): the primary operation and one
//! operation per deferred fragment run concurrently; the primary's answer goes out first
//! (`{"data":…,"hasNext":true}`), then each fragment's data at every place its path leads
//! to, as it arrives (`{"incremental":[{"data","path","label","errors"}],"hasNext":…}`), per
//! the incremental-delivery RFC (`deferSpec=20220824`). A fragment's errors stay in its own
//! payload.

use std::sync::Arc;

use bytes::Bytes;
use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::{
    error::RequestError,
    execute::{PayloadStream, Ready, StreamItem, StreamKind},
};
use crate::{
    executor::{self, ExecutionInput, ExecutionOutput},
    planner::{
        PreparedOperation,
        defer::{DeferInfo, Part, Step, TYPENAME},
        schema::SchemaIndex,
    },
    server::Runtime,
};

pub(crate) async fn start(
    runtime: &Arc<Runtime>,
    ready: Ready,
    info: &DeferInfo,
    active: &[bool],
) -> Result<PayloadStream, RequestError> {
    let split = info.split(active);
    let name = ready.prepared.name.clone();
    let prepare = |query: String| {
        let supergraph = Arc::clone(&runtime.supergraph);
        let name = name.clone();
        async move {
            supergraph
                .prepare(&query, name.as_deref())
                .await
                .map_err(|e| (*e).clone())
        }
    };
    let primary = prepare(split.primary.clone()).await?;
    let mut parts: Vec<Arc<PreparedOperation>> = Vec::with_capacity(split.parts.len());
    for part in &split.parts {
        parts.push(prepare(part.query.clone()).await?);
    }
    let (tx, rx) = mpsc::channel::<StreamItem>(split.parts.len() + 1);
    let runtime = Arc::clone(runtime);
    tokio::spawn(async move {
        let Ready {
            variables, forward, ..
        } = ready;
        let run = |prepared: Arc<PreparedOperation>| {
            let runtime = Arc::clone(&runtime);
            let variables = variables.clone();
            let forward = forward.clone();
            async move {
                executor::execute(ExecutionInput {
                    schema: &runtime.supergraph.schema,
                    client: &runtime.client,
                    prepared: &prepared,
                    variables: &variables,
                    headers: &forward,
                })
                .await
            }
        };
        let mut pending: FuturesUnordered<BoxFuture<'static, (usize, ExecutionOutput)>> = parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| run(p).map(move |out| (i, out)).boxed())
            .collect();
        let mut initial = run(primary).boxed();
        // Parts that finish before the primary wait for it.
        let mut early = Vec::new();
        let initial = loop {
            tokio::select! {
                out = &mut initial => break out,
                Some(done) = pending.next(), if !pending.is_empty() => early.push(done),
            }
        };
        let mut remaining = early.len() + pending.len();
        if tx
            .send(Ok(initial_payload(&initial.body, remaining > 0)))
            .await
            .is_err()
        {
            return;
        }
        let schema = &runtime.supergraph.schema;
        for (i, out) in early {
            remaining -= 1;
            let payload = incremental(schema, &split.parts[i], &out, remaining > 0);
            if tx.send(Ok(payload)).await.is_err() {
                return;
            }
        }
        while let Some((i, out)) = pending.next().await {
            remaining -= 1;
            let payload = incremental(schema, &split.parts[i], &out, remaining > 0);
            if tx.send(Ok(payload)).await.is_err() {
                return;
            }
        }
    });
    Ok(PayloadStream {
        kind: StreamKind::Incremental,
        payloads: rx,
    })
}

/// The primary answer with `hasNext`.
fn initial_payload(body: &[u8], has_next: bool) -> Bytes {
    let mut value: Value = serde_json::from_slice(body).unwrap_or_else(|_| json!({}));
    // A field whose selections were all deferred kept a hidden `__typename`.
    remove_typename(&mut value);
    if let Value::Object(object) = &mut value {
        object.insert("hasNext".into(), Value::Bool(has_next));
    }
    Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
}

fn remove_typename(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.remove(TYPENAME);
            object.values_mut().for_each(remove_typename);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_typename),
        _ => {}
    }
}

/// A fragment's payload: its data at every place its path leads to, and the errors under
/// those places.
fn incremental(schema: &SchemaIndex, part: &Part, out: &ExecutionOutput, has_next: bool) -> Bytes {
    let response: Value = serde_json::from_slice(&out.body).unwrap_or_else(|_| json!({}));
    let mut places = Vec::new();
    if let Some(data) = response.get("data") {
        places_of(schema, data, &part.path, &mut Vec::new(), &mut places);
    }
    let errors: Vec<Value> = response
        .get("errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut items: Vec<Value> = Vec::with_capacity(places.len());
    let mut placed = vec![false; errors.len()];
    for (path, object) in places {
        let mut data = object.clone();
        if let Value::Object(map) = &mut data {
            map.remove(TYPENAME);
        }
        let mut item = Map::new();
        item.insert("data".into(), data);
        let mut under = Vec::new();
        for (i, error) in errors.iter().enumerate() {
            let inside = error
                .get("path")
                .and_then(Value::as_array)
                .is_some_and(|p| p.starts_with(&path));
            if inside && !placed[i] {
                placed[i] = true;
                under.push(error.clone());
            }
        }
        item.insert("path".into(), Value::Array(path));
        if let Some(label) = &part.label {
            item.insert("label".into(), Value::String(label.clone()));
        }
        if !under.is_empty() {
            item.insert("errors".into(), Value::Array(under));
        }
        items.push(Value::Object(item));
    }
    // Errors not under any place (a subgraph that did not answer at all) go with the first
    // item, or on their own when the path led nowhere.
    let rest: Vec<Value> = errors
        .into_iter()
        .zip(placed)
        .filter(|(_, placed)| !placed)
        .map(|(e, _)| e)
        .collect();
    if !rest.is_empty() {
        match items.first_mut() {
            Some(Value::Object(first)) => {
                let list = first
                    .entry("errors")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.extend(rest);
                }
            }
            _ => {
                let mut item = Map::new();
                item.insert("data".into(), Value::Null);
                item.insert("path".into(), Value::Array(Vec::new()));
                if let Some(label) = &part.label {
                    item.insert("label".into(), Value::String(label.clone()));
                }
                item.insert("errors".into(), Value::Array(rest));
                items.push(Value::Object(item));
            }
        }
    }
    Bytes::from(
        serde_json::to_vec(&json!({ "incremental": items, "hasNext": has_next }))
            .unwrap_or_default(),
    )
}

/// The objects `steps` lead to below `value`, with their response paths.
fn places_of<'v>(
    schema: &SchemaIndex,
    value: &'v Value,
    steps: &[Step],
    path: &mut Vec<Value>,
    out: &mut Vec<(Vec<Value>, &'v Value)>,
) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Value::from(i));
                places_of(schema, item, steps, path, out);
                path.pop();
            }
        }
        Value::Object(object) => match steps.first() {
            None => out.push((path.clone(), value)),
            Some(Step::Field(key)) => {
                if let Some(child) = object.get(key) {
                    path.push(Value::String(key.clone()));
                    places_of(schema, child, &steps[1..], path, out);
                    path.pop();
                }
            }
            Some(Step::Type(condition)) => {
                let runtime = object.get(TYPENAME).and_then(Value::as_str);
                let holds = match (condition, runtime) {
                    (None, _) => true,
                    (Some(c), Some(t)) => schema.type_matches(t, c),
                    (Some(_), None) => false,
                };
                if holds {
                    places_of(schema, value, &steps[1..], path, out);
                }
            }
        },
        _ => {}
    }
}
