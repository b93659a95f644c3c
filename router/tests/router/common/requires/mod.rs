//! Fixtures for the `@requires` suites of The Guild's federation gateway audit, one module per
//! suite. Each module ports the suite's subgraphs (SDL, resolvers and data) to async-graphql, and
//! exposes the schemas, `sdls()` for the checked-in SDLs under `tests/fixtures/<FIXTURE>/`, and
//! `config()`, which serves the subgraphs on port 0 and returns a router config pointed at them.
//!
//! The audit's subgraphs are Apollo `buildSubgraphSchema` servers written in JavaScript, and their
//! reference resolvers read the representation the router sent as a plain object: whether a key
//! is there (`"price" in key`), whether it is truthy, and what `key.a.b` gives. So the entity
//! resolvers here take each required field as a [`RepField`] (absent, `null` or any JSON value)
//! and the helpers below reproduce the JavaScript the audit runs on it, so that a representation
//! the router gets wrong changes the answer the same way it does in the audit.
//!
//! One difference async-graphql cannot avoid: when a reference resolver fails (or a non-null
//! field of an entity does), async-graphql fails the whole `_entities` list of that request,
//! where Apollo nulls only that entity. It changes how a wrong representation shows in the
//! response, not whether it does; with correct representations no resolver here fails.

pub mod argument;
pub mod argument_conflict;
pub mod circular;
pub mod fragments;
pub mod interface;
pub mod interface_object;
pub mod nested;
pub mod overrides;
pub mod provides;
pub mod requires_requires;

use std::net::SocketAddr;

use async_graphql::{MaybeUndefined, ObjectType, SDLExportOptions, Schema, SubscriptionType};
use serde_json::Value;

use super::{fixtures_dir, set_subgraph_url};

/// A field of an entity representation as the audit's resolvers see it: `Undefined` when the key
/// is missing, `Null` when it is `null`, else its value.
pub type RepField = MaybeUndefined<Value>;

/// A JavaScript value held by a resolver: `None` is `undefined`.
pub type Js = Option<Value>;

/// The representation field as a JavaScript value (`undefined` when missing).
pub fn js(field: RepField) -> Js {
    match field {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(Value::Null),
        MaybeUndefined::Value(value) => Some(value),
    }
}

/// JavaScript truthiness; `undefined` is falsy.
pub fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_) | Value::Object(_)) => true,
    }
}

/// `value == null` in JavaScript: `undefined` or `null`.
pub fn is_nullish(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Null))
}

/// JavaScript's `Number(value)`: `undefined` is NaN, `null` is 0, booleans are 0 or 1.
pub fn to_number(value: Option<&Value>) -> f64 {
    match value {
        None => f64::NAN,
        Some(Value::Null) => 0.0,
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(Value::String(s)) if s.trim().is_empty() => 0.0,
        Some(Value::String(s)) => s.trim().parse().unwrap_or(f64::NAN),
        Some(Value::Array(_) | Value::Object(_)) => f64::NAN,
    }
}

/// JavaScript's `String(n)` for a number.
pub fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// JavaScript's template-literal interpolation `${value}`.
pub fn to_js_string(value: Option<&Value>) -> String {
    match value {
        None => "undefined".into(),
        Some(Value::Null) => "null".into(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => number_to_string(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                if item.is_null() {
                    String::new()
                } else {
                    to_js_string(Some(item))
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(_)) => "[object Object]".into(),
    }
}

/// JavaScript's `value.key`: a `TypeError` on `undefined` or `null`, `undefined` for a key an
/// object lacks (and for any key of an array or a primitive; the audit reads no key that one of
/// those has: lengths are read with [`Value::as_array`]).
pub fn get<'a>(value: Option<&'a Value>, key: &str) -> async_graphql::Result<Option<&'a Value>> {
    match value {
        None => Err(format!("Cannot read properties of undefined (reading '{key}')").into()),
        Some(Value::Null) => {
            Err(format!("Cannot read properties of null (reading '{key}')").into())
        }
        Some(Value::Object(object)) => Ok(object.get(key)),
        Some(_) => Ok(None),
    }
}

/// graphql-js's serialisation of a number a resolver returned for an `Int` field.
pub fn serialize_int(n: f64) -> async_graphql::Result<i32> {
    if n.fract() == 0.0 && n >= f64::from(i32::MIN) && n <= f64::from(i32::MAX) {
        Ok(n as i32)
    } else {
        Err(format!(
            "Int cannot represent non-integer value: {}",
            number_to_string(n)
        )
        .into())
    }
}

/// graphql-js's answer when a resolver gives `undefined` or `null` for a non-null field.
pub fn non_null<T>(value: Option<T>, field: &str) -> async_graphql::Result<T> {
    value.ok_or_else(|| format!("Cannot return null for non-nullable field {field}.").into())
}

/// A subgraph's SDL as its `_service { sdl }` serves it.
pub fn federation_sdl<Q, M, S>(schema: &Schema<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    schema.sdl_with_options(SDLExportOptions::new().federation())
}

/// A router config for `tests/fixtures/<fixture>/supergraph.graphql` (port 0, no reload) with
/// each named subgraph pointed at its address.
pub fn router_config(fixture: &str, subgraphs: &[(&str, SocketAddr)]) -> router::RouterConfig {
    let mut config = router::RouterConfig {
        port: 0,
        ..Default::default()
    };
    config.supergraph.path = fixtures_dir().join(fixture).join("supergraph.graphql");
    config.supergraph.watch = false;
    for (name, addr) in subgraphs {
        set_subgraph_url(&mut config, name, *addr);
    }
    config
}
