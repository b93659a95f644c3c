//! Authorization directives of the supergraph, enforced before any subgraph is called:
//! `@authenticated`, `@requiresScopes(scopes:)` and `@policy(policies:)` (Federation 2.5 and
//! 2.6, found through the supergraph's `@link`s, renamed imports included) on fields and on
//! the types fields return (objects, interfaces, scalars, enums).
//!
//! Planning does the schema work once per document: [`guards`] lists every place of the
//! normalized operation that has a requirement. A request then only evaluates those against
//! its caller. By default (`filter`) what the caller may not see is removed from the
//! operation before it is planned (the variant is planned once and kept), its paths are
//! null with an `UNAUTHORIZED_FIELD_OR_TYPE` error, and the rest is answered; `reject`
//! refuses the whole operation. The subgraphs keep their own checks as a second line.

use std::collections::HashMap;

use graphql_tools::static_graphql::schema::{Definition, Directive, Document, Value};
use hive_router_query_planner::ast::{
    operation::OperationDefinition,
    selection_item::SelectionItem,
    selection_set::{FieldSelection, SelectionSet},
};
use serde_json::Value as Json;

use crate::{
    auth::Caller,
    config::{AuthorizationConfig, PolicyRule},
    error::GraphQLError,
    planner::schema::{SchemaIndex, TypeKind, directed_types},
};

pub const UNAUTHORIZED_FIELD_OR_TYPE: &str = "UNAUTHORIZED_FIELD_OR_TYPE";

/// Alternatives: satisfied when every name of one of the groups is held.
type Alternatives = Vec<Vec<String>>;

/// What reaching one place of a schema needs; every part must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requirement {
    pub authenticated: bool,
    pub scopes: Vec<Alternatives>,
    pub policies: Vec<Alternatives>,
}

impl Requirement {
    pub fn is_empty(&self) -> bool {
        !self.authenticated && self.scopes.is_empty() && self.policies.is_empty()
    }

    fn and(&mut self, other: &Requirement) {
        self.authenticated |= other.authenticated;
        for s in &other.scopes {
            if !self.scopes.contains(s) {
                self.scopes.push(s.clone());
            }
        }
        for p in &other.policies {
            if !self.policies.contains(p) {
                self.policies.push(p.clone());
            }
        }
    }
}

/// The requirements a supergraph declares, by type and by field.
#[derive(Debug, Default)]
pub struct AccessRules {
    types: HashMap<String, Requirement>,
    fields: HashMap<(String, String), Requirement>,
}

/// The local names of the three directives, from the supergraph's `@link`s.
#[derive(Default)]
struct Names {
    authenticated: Option<String>,
    requires_scopes: Option<String>,
    policy: Option<String>,
}

impl AccessRules {
    pub fn from_supergraph(document: &Document) -> Self {
        let names = link_names(document);
        let mut rules = Self::default();
        if names.authenticated.is_none()
            && names.requires_scopes.is_none()
            && names.policy.is_none()
        {
            return rules;
        }
        for (name, directives, fields) in directed_types(document) {
            let requirement = requirement_of(&names, directives);
            if !requirement.is_empty() {
                rules.types.insert(name.to_owned(), requirement);
            }
            for field in fields {
                let requirement = requirement_of(&names, &field.directives);
                if !requirement.is_empty() {
                    rules
                        .fields
                        .insert((name.to_owned(), field.name.clone()), requirement);
                }
            }
        }
        rules
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty() && self.fields.is_empty()
    }

    /// What selecting `field` on `parent` needs: the field's own requirement, that of the
    /// type it returns, and on an interface that of the field on every implementation
    /// (the runtime type is not known before the subgraph answers).
    fn field(&self, schema: &SchemaIndex, parent: &str, field: &str) -> Requirement {
        let mut out = Requirement::default();
        let key = |t: &str| (t.to_owned(), field.to_owned());
        if let Some(r) = self.fields.get(&key(parent)) {
            out.and(r);
        }
        let Some(parent_type) = schema.get(parent) else {
            return out;
        };
        if parent_type.kind == TypeKind::Interface {
            for object in &parent_type.possible_types {
                if let Some(r) = self.fields.get(&key(object)) {
                    out.and(r);
                }
            }
        }
        if let Some(r) = parent_type
            .field(field)
            .and_then(|f| self.types.get(f.ty.named()))
        {
            out.and(r);
        }
        out
    }
}

fn link_names(document: &Document) -> Names {
    let mut names = Names::default();
    for definition in &document.definitions {
        let Definition::SchemaDefinition(schema) = definition else {
            continue;
        };
        for link in schema.directives.iter().filter(|d| d.name == "link") {
            let Some(url) = argument(link, "url").and_then(as_str) else {
                continue;
            };
            let alias = argument(link, "as").and_then(as_str);
            let spec = |name: &str| url.contains(&format!("specs.apollo.dev/{name}/v"));
            let local = |default: &str| alias.unwrap_or(default).to_owned();
            if spec("authenticated") {
                names.authenticated = Some(local("authenticated"));
            } else if spec("requiresScopes") {
                names.requires_scopes = Some(local("requiresScopes"));
            } else if spec("policy") {
                names.policy = Some(local("policy"));
            }
        }
    }
    names
}

fn requirement_of(names: &Names, directives: &[Directive]) -> Requirement {
    let mut out = Requirement::default();
    for directive in directives {
        let name = Some(&directive.name);
        if name == names.authenticated.as_ref() {
            out.authenticated = true;
        } else if name == names.requires_scopes.as_ref() {
            if let Some(groups) = argument(directive, "scopes").map(alternatives) {
                out.and(&Requirement {
                    scopes: vec![groups],
                    ..Default::default()
                });
            }
        } else if name == names.policy.as_ref()
            && let Some(groups) = argument(directive, "policies").map(alternatives)
        {
            out.and(&Requirement {
                policies: vec![groups],
                ..Default::default()
            });
        }
    }
    out
}

fn argument<'d>(directive: &'d Directive, name: &str) -> Option<&'d Value> {
    directive
        .arguments
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn as_str(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// `[["a", "b"], ["c"]]`: a and b, or c.
fn alternatives(value: &Value) -> Alternatives {
    let Value::List(groups) = value else {
        return Vec::new();
    };
    groups
        .iter()
        .map(|group| match group {
            Value::List(names) => names.iter().filter_map(as_str).map(str::to_owned).collect(),
            other => as_str(other).map(str::to_owned).into_iter().collect(),
        })
        .collect()
}

/// One guarded place of an operation.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    pub requirement: Requirement,
    /// Index of each selection item from the root down to the guarded one.
    position: Vec<usize>,
    /// The response path of its error: response keys, `@` for list items.
    path: Vec<Json>,
    /// The nearest guarded place above it: when that one is denied, this one is moot.
    parent: Option<usize>,
}

/// Every guarded place of a normalized operation, outermost first.
pub(crate) fn guards(
    rules: &AccessRules,
    schema: &SchemaIndex,
    operation: &OperationDefinition,
    root_type: &str,
) -> Vec<Guard> {
    let mut out = Vec::new();
    if rules.is_empty() {
        return out;
    }
    let mut walk = Walk {
        rules,
        schema,
        out: &mut out,
        position: Vec::new(),
        path: Vec::new(),
    };
    walk.set(&operation.selection_set, root_type, None);
    out
}

struct Walk<'a> {
    rules: &'a AccessRules,
    schema: &'a SchemaIndex,
    out: &'a mut Vec<Guard>,
    position: Vec<usize>,
    path: Vec<Json>,
}

impl Walk<'_> {
    fn set(&mut self, set: &SelectionSet, parent: &str, guard: Option<usize>) {
        for (i, item) in set.items.iter().enumerate() {
            self.position.push(i);
            match item {
                SelectionItem::Field(field) if !field.name.starts_with("__") => {
                    let key = field.alias.as_deref().unwrap_or(&field.name);
                    self.path.push(Json::String(key.to_owned()));
                    let requirement = self.rules.field(self.schema, parent, &field.name);
                    let inner = self.push(requirement, guard);
                    let field_type = self
                        .schema
                        .get(parent)
                        .and_then(|t| t.field(&field.name))
                        .map(|f| f.ty.clone());
                    if let Some(ty) = field_type {
                        let lists = list_depth(&ty);
                        for _ in 0..lists {
                            self.path.push(Json::String("@".into()));
                        }
                        self.set(&field.selections, ty.named(), inner.or(guard));
                        for _ in 0..lists {
                            self.path.pop();
                        }
                    }
                    self.path.pop();
                }
                SelectionItem::InlineFragment(fragment) => {
                    let requirement = self
                        .rules
                        .types
                        .get(&fragment.type_condition)
                        .filter(|_| fragment.type_condition != parent)
                        .cloned()
                        .unwrap_or_default();
                    let inner = self.push(requirement, guard);
                    self.set(
                        &fragment.selections,
                        &fragment.type_condition,
                        inner.or(guard),
                    );
                }
                _ => {}
            }
            self.position.pop();
        }
    }

    fn push(&mut self, requirement: Requirement, parent: Option<usize>) -> Option<usize> {
        if requirement.is_empty() {
            return None;
        }
        self.out.push(Guard {
            requirement,
            position: self.position.clone(),
            path: self.path.clone(),
            parent,
        });
        Some(self.out.len() - 1)
    }
}

fn list_depth(ty: &crate::planner::schema::TypeRef) -> usize {
    use crate::planner::schema::TypeRef;
    match ty {
        TypeRef::Named(_) => 0,
        TypeRef::NonNull(inner) => list_depth(inner),
        TypeRef::List(inner) => 1 + list_depth(inner),
    }
}

/// How one caller fares against an operation's guards.
pub(crate) struct Verdict {
    /// By guard: denied, and not already inside a denied place.
    pub denied: Vec<bool>,
}

impl Verdict {
    pub fn any(&self) -> bool {
        self.denied.iter().any(|d| *d)
    }

    /// One error per denied place.
    pub fn errors(&self, guards: &[Guard]) -> Vec<GraphQLError> {
        guards
            .iter()
            .zip(&self.denied)
            .filter(|(_, d)| **d)
            .map(|(g, _)| {
                GraphQLError::new("Unauthorized field or type", UNAUTHORIZED_FIELD_OR_TYPE)
                    .with_path(g.path.clone())
            })
            .collect()
    }
}

/// Evaluates every guard for this caller.
pub(crate) fn judge(
    config: &AuthorizationConfig,
    guards: &[Guard],
    caller: Option<&Caller>,
) -> Verdict {
    let mut failed = vec![false; guards.len()];
    let mut denied = vec![false; guards.len()];
    for (i, guard) in guards.iter().enumerate() {
        let moot = guard.parent.is_some_and(|p| failed[p]);
        failed[i] = moot || !allows(config, &guard.requirement, caller);
        denied[i] = failed[i] && !moot;
    }
    Verdict { denied }
}

fn allows(
    config: &AuthorizationConfig,
    requirement: &Requirement,
    caller: Option<&Caller>,
) -> bool {
    let Some(caller) = caller else {
        return requirement.is_empty();
    };
    let scopes: Vec<&str> = match caller.claims.get(&config.scope_claim) {
        Some(Json::String(s)) => s.split_whitespace().collect(),
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    };
    let holds = |alternatives: &Alternatives, has: &dyn Fn(&str) -> bool| {
        alternatives
            .iter()
            .any(|group| group.iter().all(|name| has(name)))
    };
    requirement
        .scopes
        .iter()
        .all(|alt| holds(alt, &|s| scopes.contains(&s)))
        && requirement.policies.iter().all(|alt| {
            holds(alt, &|name| {
                config
                    .policies
                    .get(name)
                    .is_some_and(|rule| policy_holds(rule, &caller.claims))
            })
        })
}

/// A policy holds when its claim has one of the listed values (or, for an array claim,
/// contains one). An unknown policy never holds: a typo must not open a field.
fn policy_holds(rule: &PolicyRule, claims: &Json) -> bool {
    let matches = |v: &Json| match v {
        Json::String(s) => rule.one_of.iter().any(|o| o == s),
        Json::Number(_) | Json::Bool(_) => {
            let text = v.to_string();
            rule.one_of.contains(&text)
        }
        _ => false,
    };
    match claims.get(&rule.claim) {
        Some(Json::Array(items)) => items.iter().any(matches),
        Some(v) => matches(v),
        None => false,
    }
}

/// The operation without its denied places. A selection left empty keeps `__typename`, so
/// the object stays and only the removed fields are null.
pub(crate) fn without(
    operation: &OperationDefinition,
    guards: &[Guard],
    verdict: &Verdict,
) -> OperationDefinition {
    let mut out = operation.clone();
    let mut positions: Vec<&[usize]> = guards
        .iter()
        .zip(&verdict.denied)
        .filter(|(_, d)| **d)
        .map(|(g, _)| g.position.as_slice())
        .collect();
    // Deepest and last first, so that earlier positions stay valid.
    positions.sort_unstable_by(|a, b| b.cmp(a));
    for position in positions {
        remove(&mut out.selection_set, position);
    }
    out
}

fn remove(set: &mut SelectionSet, position: &[usize]) {
    match position {
        [] => {}
        [last] => {
            if *last < set.items.len() {
                set.items.remove(*last);
            }
        }
        [first, rest @ ..] => {
            let inner = match set.items.get_mut(*first) {
                Some(SelectionItem::Field(f)) => &mut f.selections,
                Some(SelectionItem::InlineFragment(f)) => &mut f.selections,
                _ => return,
            };
            remove(inner, rest);
            if inner.items.is_empty() {
                inner.items.push(SelectionItem::Field(FieldSelection {
                    name: "__typename".into(),
                    ..Default::default()
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(claims: Json) -> Caller {
        Caller {
            subject: "u".into(),
            claims,
            authorization: axum::http::HeaderValue::from_static("Bearer x"),
        }
    }

    fn config() -> AuthorizationConfig {
        let mut config = AuthorizationConfig::default();
        config.policies.insert(
            "admin".into(),
            PolicyRule {
                claim: "role".into(),
                one_of: vec!["ADMIN".into()],
            },
        );
        config
    }

    #[test]
    fn scopes_and_policies_are_alternatives_of_groups() {
        let config = config();
        let need = |scopes: Alternatives, policies: Alternatives| Requirement {
            authenticated: false,
            scopes: if scopes.is_empty() {
                vec![]
            } else {
                vec![scopes]
            },
            policies: if policies.is_empty() {
                vec![]
            } else {
                vec![policies]
            },
        };
        let s = |v: &[&[&str]]| -> Alternatives {
            v.iter()
                .map(|g| g.iter().map(|x| (*x).to_owned()).collect())
                .collect()
        };
        let user = caller(serde_json::json!({ "scope": "read write", "role": "USER" }));
        let admin = caller(serde_json::json!({ "scope": ["read"], "role": "ADMIN" }));
        assert!(allows(
            &config,
            &need(s(&[&["read", "write"]]), vec![]),
            Some(&user)
        ));
        assert!(!allows(
            &config,
            &need(s(&[&["read", "write"]]), vec![]),
            Some(&admin)
        ));
        assert!(allows(
            &config,
            &need(s(&[&["admin"], &["read"]]), vec![]),
            Some(&admin)
        ));
        assert!(allows(
            &config,
            &need(vec![], s(&[&["admin"]])),
            Some(&admin)
        ));
        assert!(!allows(
            &config,
            &need(vec![], s(&[&["admin"]])),
            Some(&user)
        ));
        assert!(!allows(
            &config,
            &need(vec![], s(&[&["unknown"]])),
            Some(&admin)
        ));
        let authenticated = Requirement {
            authenticated: true,
            ..Default::default()
        };
        assert!(allows(&config, &authenticated, Some(&user)));
        assert!(!allows(&config, &authenticated, None));
        assert!(allows(&config, &Requirement::default(), None));
    }
}
