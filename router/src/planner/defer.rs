//! `@defer`. The query planner this router uses (hive-router-query-planner 2.10.11) declares
//! Defer plan nodes but never plans one, so the router splits a deferring operation itself:
//!
//! - the **primary** operation is the document without its active deferred fragments;
//! - each active deferred fragment gets an operation of its own: the path from the root to
//!   the fragment (fields with their arguments and directives, type conditions) and the
//!   fragment's own selections, minus the active fragments nested in it.
//!
//! Each of these is an ordinary operation, validated, planned and cached like any other, and
//! they run concurrently: the primary's answer is the initial payload, and each fragment's
//! data, cut out of its own answer at every place the path leads to, an incremental one.
//! The price is that a fragment's operation fetches its path again (usually the keys of
//! the entities on the way); what it buys is that a slow deferred field never holds back
//! the initial payload, across any number of subgraphs.
//!
//! `@defer(if: false)` (a literal or a variable) inlines the fragment; a client that cannot
//! take a stream gets the whole result at once, as the incremental-delivery RFC allows.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use graphql_tools::parser::Pos;
use graphql_tools::static_graphql::query::{
    self as q, Definition, Directive, OperationDefinition, Selection, SelectionSet, Value,
};

use crate::error::{RequestError, codes};

/// A deferring operation, analysed once per document.
#[derive(Debug)]
pub(crate) struct DeferInfo {
    /// The operation alone, fragment spreads inlined, `@defer` directives in place.
    operation: q::OperationDefinition,
    fragments: Vec<Deferred>,
    /// The operation with every `@defer` removed: what is validated and planned, and what
    /// runs when nothing is deferred.
    pub inlined: String,
    splits: Mutex<HashMap<Vec<bool>, Arc<Split>>>,
    /// Defaults of the variables `if` arguments name: the inlined operation no longer
    /// declares them (they are used nowhere else), so they are read from the request.
    defaults: HashMap<String, bool>,
}

#[derive(Debug, Clone)]
struct Deferred {
    label: Option<String>,
    condition: Condition,
}

#[derive(Debug, Clone)]
enum Condition {
    Always,
    Never,
    /// Deferred when the variable is true (or absent: `if` defaults to true).
    Variable(String),
}

/// The documents of one set of active fragments.
#[derive(Debug)]
pub(crate) struct Split {
    pub primary: String,
    pub parts: Vec<Part>,
}

/// One deferred fragment's operation, and where its data goes.
#[derive(Debug)]
pub(crate) struct Part {
    pub label: Option<String>,
    pub query: String,
    /// From the root to the fragment: response keys and type conditions.
    pub path: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Field(String),
    /// An inline fragment's type condition (`None`: no condition).
    Type(Option<String>),
}

/// The alias of the `__typename` the split operations select at every level of a
/// fragment's path, to tell which objects a type condition applies to.
pub(crate) const TYPENAME: &str = "__defer_typename";

fn is_defer(d: &Directive) -> bool {
    d.name == "defer"
}

/// Whether the document uses `directive` anywhere.
pub(crate) fn uses(document: &q::Document, directive: &str) -> bool {
    fn in_set(set: &SelectionSet, name: &str) -> bool {
        set.items.iter().any(|s| match s {
            Selection::Field(f) => {
                f.directives.iter().any(|d| d.name == name) || in_set(&f.selection_set, name)
            }
            Selection::InlineFragment(i) => {
                i.directives.iter().any(|d| d.name == name) || in_set(&i.selection_set, name)
            }
            Selection::FragmentSpread(s) => s.directives.iter().any(|d| d.name == name),
        })
    }
    document.definitions.iter().any(|d| match d {
        Definition::Operation(o) => in_set(selection_set(o), directive),
        Definition::Fragment(f) => in_set(&f.selection_set, directive),
    })
}

fn selection_set(op: &OperationDefinition) -> &SelectionSet {
    match op {
        OperationDefinition::SelectionSet(s) => s,
        OperationDefinition::Query(q) => &q.selection_set,
        OperationDefinition::Mutation(m) => &m.selection_set,
        OperationDefinition::Subscription(s) => &s.selection_set,
    }
}

fn selection_set_mut(op: &mut OperationDefinition) -> &mut SelectionSet {
    match op {
        OperationDefinition::SelectionSet(s) => s,
        OperationDefinition::Query(q) => &mut q.selection_set,
        OperationDefinition::Mutation(m) => &mut m.selection_set,
        OperationDefinition::Subscription(s) => &mut s.selection_set,
    }
}

fn invalid(message: impl Into<String>) -> RequestError {
    RequestError::bad_request(message, codes::ErrorCode::GraphqlValidationFailed.as_str())
}

impl DeferInfo {
    /// Analyses `operation` of `document` (which uses `@defer`): inlines its fragment
    /// spreads and checks every `@defer`'s arguments (`if` a Boolean, `label` a unique
    /// string).
    pub fn analyse(
        document: &q::Document,
        operation: &OperationDefinition,
    ) -> Result<Self, RequestError> {
        let fragments: HashMap<&str, &q::FragmentDefinition> = document
            .definitions
            .iter()
            .filter_map(|d| match d {
                Definition::Fragment(f) => Some((f.name.as_str(), f)),
                Definition::Operation(_) => None,
            })
            .collect();
        let mut operation = operation.clone();
        let inlined = inline_spreads(selection_set(&operation), &fragments, 0)?;
        *selection_set_mut(&mut operation) = inlined;
        let mut deferred = Vec::new();
        let mut labels = HashSet::new();
        collect_deferred(selection_set(&operation), &mut deferred, &mut labels)?;
        let mut stripped = operation.clone();
        strip(selection_set_mut(&mut stripped), &|_| false, &mut 0);
        let definitions = match &operation {
            OperationDefinition::SelectionSet(_) => &[][..],
            OperationDefinition::Query(q) => &q.variable_definitions[..],
            OperationDefinition::Mutation(m) => &m.variable_definitions[..],
            OperationDefinition::Subscription(s) => &s.variable_definitions[..],
        };
        let defaults = definitions
            .iter()
            .filter_map(|d| match &d.default_value {
                Some(Value::Boolean(b)) => Some((d.name.clone(), *b)),
                _ => None,
            })
            .collect();
        Ok(Self {
            inlined: print(&stripped),
            operation,
            fragments: deferred,
            splits: Mutex::default(),
            defaults,
        })
    }

    /// Which fragments are deferred for the request's variables (as the client sent them).
    /// A condition variable that is not a Boolean and has no default inlines its fragment.
    pub fn active(&self, variables: Option<&serde_json::Value>) -> Vec<bool> {
        self.fragments
            .iter()
            .map(|f| match &f.condition {
                Condition::Always => true,
                Condition::Never => false,
                Condition::Variable(v) => variables
                    .and_then(|vars| vars.get(v))
                    .and_then(serde_json::Value::as_bool)
                    .or_else(|| self.defaults.get(v).copied())
                    .unwrap_or(false),
            })
            .collect()
    }

    /// The documents for a set of active fragments (cached: there are at most 2^n).
    pub fn split(&self, active: &[bool]) -> Arc<Split> {
        if let Ok(splits) = self.splits.lock()
            && let Some(split) = splits.get(active)
        {
            return Arc::clone(split);
        }
        let mut primary = self.operation.clone();
        strip(selection_set_mut(&mut primary), &|id| active[id], &mut 0);
        let mut parts = Vec::new();
        for (id, fragment) in self.fragments.iter().enumerate() {
            if !active[id] {
                continue;
            }
            let mut part = self.operation.clone();
            let mut path = Vec::new();
            let set = selection_set_mut(&mut part);
            prune_to(set, id, active, &mut 0, &mut path);
            parts.push(Part {
                label: fragment.label.clone(),
                query: print(&part),
                path,
            });
        }
        let split = Arc::new(Split {
            primary: print(&primary),
            parts,
        });
        if let Ok(mut splits) = self.splits.lock() {
            splits.insert(active.to_vec(), Arc::clone(&split));
        }
        split
    }

    pub fn any_active(active: &[bool]) -> bool {
        active.iter().any(|a| *a)
    }
}

/// Fragment spreads replaced by inline fragments (their directives kept), so that every
/// deferred fragment is an inline fragment with a place in one selection tree.
fn inline_spreads(
    set: &SelectionSet,
    fragments: &HashMap<&str, &q::FragmentDefinition>,
    depth: usize,
) -> Result<SelectionSet, RequestError> {
    // Validation has ruled out cycles; this bounds the work regardless.
    if depth > 64 {
        return Err(invalid("fragments nest too deep"));
    }
    let mut items = Vec::with_capacity(set.items.len());
    for item in &set.items {
        items.push(match item {
            Selection::Field(f) => {
                let mut f = f.clone();
                f.selection_set = inline_spreads(&f.selection_set, fragments, depth + 1)?;
                Selection::Field(f)
            }
            Selection::InlineFragment(i) => {
                let mut i = i.clone();
                i.selection_set = inline_spreads(&i.selection_set, fragments, depth + 1)?;
                Selection::InlineFragment(i)
            }
            Selection::FragmentSpread(s) => {
                let fragment = fragments
                    .get(s.fragment_name.as_str())
                    .ok_or_else(|| invalid(format!("unknown fragment \"{}\"", s.fragment_name)))?;
                Selection::InlineFragment(q::InlineFragment {
                    position: s.position,
                    type_condition: Some(fragment.type_condition.clone()),
                    directives: s.directives.clone(),
                    selection_set: inline_spreads(&fragment.selection_set, fragments, depth + 1)?,
                })
            }
        });
    }
    Ok(SelectionSet {
        span: set.span,
        items,
    })
}

/// Every deferred fragment in document order, with its arguments checked.
fn collect_deferred(
    set: &SelectionSet,
    out: &mut Vec<Deferred>,
    labels: &mut HashSet<String>,
) -> Result<(), RequestError> {
    for item in &set.items {
        match item {
            Selection::Field(f) => {
                if f.directives.iter().any(is_defer) {
                    return Err(invalid("@defer goes on fragments, not fields"));
                }
                collect_deferred(&f.selection_set, out, labels)?;
            }
            Selection::InlineFragment(i) => {
                if let Some(d) = i.directives.iter().find(|d| is_defer(d)) {
                    out.push(deferred(d, labels)?);
                }
                collect_deferred(&i.selection_set, out, labels)?;
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    Ok(())
}

fn deferred(d: &Directive, labels: &mut HashSet<String>) -> Result<Deferred, RequestError> {
    let mut label = None;
    let mut condition = Condition::Always;
    for (name, value) in &d.arguments {
        match (name.as_str(), value) {
            ("label", Value::String(s)) => {
                if !labels.insert(s.clone()) {
                    return Err(invalid(format!("the @defer label \"{s}\" is used twice")));
                }
                label = Some(s.clone());
            }
            ("label", _) => return Err(invalid("@defer's label must be a string literal")),
            ("if", Value::Boolean(true)) => condition = Condition::Always,
            ("if", Value::Boolean(false)) => condition = Condition::Never,
            ("if", Value::Variable(v)) => condition = Condition::Variable(v.clone()),
            ("if", _) => return Err(invalid("@defer's if must be a Boolean")),
            (other, _) => return Err(invalid(format!("@defer has no argument \"{other}\""))),
        }
    }
    Ok(Deferred { label, condition })
}

/// Removes the deferred fragments `remove` says (by id, counted in document order) and the
/// `@defer` directive of every other one.
fn strip(set: &mut SelectionSet, remove: &dyn Fn(usize) -> bool, next_id: &mut usize) {
    let mut kept = Vec::with_capacity(set.items.len());
    for mut item in std::mem::take(&mut set.items) {
        match &mut item {
            Selection::Field(f) => {
                let had_selections = !f.selection_set.items.is_empty();
                strip(&mut f.selection_set, remove, next_id);
                // All of it deferred: the field still needs a selection to be valid.
                if had_selections && f.selection_set.items.is_empty() {
                    f.selection_set
                        .items
                        .push(typename_selection(f.selection_set.span));
                }
            }
            Selection::InlineFragment(i) => {
                if i.directives.iter().any(is_defer) {
                    let id = *next_id;
                    *next_id += 1;
                    if remove(id) {
                        // Its nested fragments still take their ids.
                        skip_ids(&i.selection_set, next_id);
                        continue;
                    }
                    i.directives.retain(|d| !is_defer(d));
                }
                strip(&mut i.selection_set, remove, next_id);
            }
            Selection::FragmentSpread(_) => {}
        }
        kept.push(item);
    }
    set.items = kept;
}

fn skip_ids(set: &SelectionSet, next_id: &mut usize) {
    for item in &set.items {
        match item {
            Selection::Field(f) => skip_ids(&f.selection_set, next_id),
            Selection::InlineFragment(i) => {
                if i.directives.iter().any(is_defer) {
                    *next_id += 1;
                }
                skip_ids(&i.selection_set, next_id);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

fn typename_selection(span: (Pos, Pos)) -> Selection {
    Selection::Field(q::Field {
        position: span.0,
        alias: Some(TYPENAME.to_owned()),
        name: "__typename".to_owned(),
        arguments: Vec::new(),
        directives: Vec::new(),
        selection_set: SelectionSet {
            span,
            items: Vec::new(),
        },
    })
}

/// Prunes `set` to the path leading to fragment `target`, and that fragment's own
/// selections (minus the active fragments nested in it); records the path. `true` when the
/// target is in `set`.
fn prune_to(
    set: &mut SelectionSet,
    target: usize,
    active: &[bool],
    next_id: &mut usize,
    path: &mut Vec<Step>,
) -> bool {
    let items = std::mem::take(&mut set.items);
    let mut found = None;
    for mut item in items {
        if found.is_some() {
            skip_item_ids(&item, next_id);
            continue;
        }
        match &mut item {
            Selection::Field(f) => {
                let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
                path.push(Step::Field(key));
                if prune_to(&mut f.selection_set, target, active, next_id, path) {
                    found = Some(item);
                } else {
                    path.pop();
                }
            }
            Selection::InlineFragment(i) => {
                let deferred = i.directives.iter().any(is_defer);
                let id = if deferred {
                    let id = *next_id;
                    *next_id += 1;
                    Some(id)
                } else {
                    None
                };
                let condition = i.type_condition.as_ref().map(|t| t.as_ref().clone());
                path.push(Step::Type(condition));
                if id == Some(target) {
                    i.directives.retain(|d| !is_defer(d));
                    strip(&mut i.selection_set, &|n| active[n], next_id);
                    if i.selection_set.items.is_empty() {
                        i.selection_set
                            .items
                            .push(typename_selection(i.selection_set.span));
                    }
                    found = Some(item);
                } else {
                    i.directives.retain(|d| !is_defer(d));
                    if prune_to(&mut i.selection_set, target, active, next_id, path) {
                        found = Some(item);
                    } else {
                        path.pop();
                    }
                }
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    match found {
        Some(item) => {
            set.items = vec![typename_selection(set.span), item];
            true
        }
        None => false,
    }
}

fn skip_item_ids(item: &Selection, next_id: &mut usize) {
    match item {
        Selection::Field(f) => skip_ids(&f.selection_set, next_id),
        Selection::InlineFragment(i) => {
            if i.directives.iter().any(is_defer) {
                *next_id += 1;
            }
            skip_ids(&i.selection_set, next_id);
        }
        Selection::FragmentSpread(_) => {}
    }
}

/// The operation as a document, with only the variables its selections use declared (so
/// that a split operation passes the unused-variable rule).
fn print(operation: &OperationDefinition) -> String {
    let mut operation = operation.clone();
    let mut used = HashSet::new();
    variables_in(selection_set(&operation), &mut used);
    let definitions = match &mut operation {
        OperationDefinition::SelectionSet(_) => None,
        OperationDefinition::Query(q) => Some(&mut q.variable_definitions),
        OperationDefinition::Mutation(m) => Some(&mut m.variable_definitions),
        OperationDefinition::Subscription(s) => Some(&mut s.variable_definitions),
    };
    if let Some(definitions) = definitions {
        definitions.retain(|d| used.contains(&d.name));
    }
    q::Document {
        definitions: vec![Definition::Operation(operation)],
    }
    .to_string()
}

fn variables_in(set: &SelectionSet, out: &mut HashSet<String>) {
    fn value(v: &Value, out: &mut HashSet<String>) {
        match v {
            Value::Variable(name) => {
                out.insert(name.clone());
            }
            Value::List(items) => items.iter().for_each(|i| value(i, out)),
            Value::Object(fields) => fields.iter().for_each(|(_, f)| value(f, out)),
            _ => {}
        }
    }
    let directives = |ds: &[Directive], out: &mut HashSet<String>| {
        for d in ds {
            for (_, v) in &d.arguments {
                value(v, out);
            }
        }
    };
    for item in &set.items {
        match item {
            Selection::Field(f) => {
                for (_, v) in &f.arguments {
                    value(v, out);
                }
                directives(&f.directives, out);
                variables_in(&f.selection_set, out);
            }
            Selection::InlineFragment(i) => {
                directives(&i.directives, out);
                variables_in(&i.selection_set, out);
            }
            Selection::FragmentSpread(s) => directives(&s.directives, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(query: &str) -> DeferInfo {
        let document = graphql_tools::parser::parse_query::<String>(query)
            .unwrap()
            .into_static();
        let operation = document
            .definitions
            .iter()
            .find_map(|d| match d {
                Definition::Operation(o) => Some(o.clone()),
                Definition::Fragment(_) => None,
            })
            .unwrap();
        DeferInfo::analyse(&document, &operation).unwrap()
    }

    fn squash(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn an_operation_splits_into_its_primary_part_and_one_operation_per_fragment() {
        let info = info(
            r#"query Q($id: ID!, $late: Boolean!) {
                product(id: $id) { name ...Reviews @defer(label: "reviews") }
                me { id ... @defer(if: $late) { email } }
            }
            fragment Reviews on Product { reviews { body } }"#,
        );
        // $late was used by @defer only: the inlined operation does not declare it.
        assert_eq!(
            squash(&info.inlined),
            squash(
                "query Q($id: ID!) { product(id: $id) { name ... on Product { reviews { body } } } me { id ... { email } } }"
            )
        );
        let vars = |late: bool| serde_json::json!({ "id": "1", "late": late });
        assert_eq!(info.active(Some(&vars(false))), [true, false]);
        assert_eq!(info.active(None), [true, false], "no value: not deferred");
        let split = info.split(&info.active(Some(&vars(true))));
        assert_eq!(
            squash(&split.primary),
            squash("query Q($id: ID!) { product(id: $id) { name } me { id } }")
        );
        assert_eq!(split.parts.len(), 2);
        assert_eq!(split.parts[0].label.as_deref(), Some("reviews"));
        assert_eq!(
            squash(&split.parts[0].query),
            squash(
                "query Q($id: ID!) { __defer_typename: __typename product(id: $id) { __defer_typename: __typename ... on Product { reviews { body } } } }"
            )
        );
        assert_eq!(
            split.parts[0].path,
            [
                Step::Field("product".into()),
                Step::Type(Some("Product".into()))
            ]
        );
        assert_eq!(
            squash(&split.parts[1].query),
            squash(
                "query Q { __defer_typename: __typename me { __defer_typename: __typename ... { email } } }"
            )
        );
    }

    #[test]
    fn nested_fragments_are_cut_out_of_their_parents() {
        let info = info(
            "{ me { ... @defer(label: \"outer\") { id ... @defer(label: \"inner\") { email } } } }",
        );
        let split = info.split(&[true, true]);
        // Everything under `me` is deferred: it keeps a hidden `__typename` to stay valid.
        assert_eq!(
            squash(&split.primary),
            squash("{ me { __defer_typename: __typename } }")
        );
        assert!(
            squash(&split.parts[0].query).contains("... { id }"),
            "{}",
            split.parts[0].query
        );
        assert!(
            squash(&split.parts[1].query).contains("... { email }"),
            "{}",
            split.parts[1].query
        );
        // With the inner one inlined, the outer part carries it.
        let split = info.split(&[true, false]);
        assert!(squash(&split.parts[0].query).contains("... { id ... { email } }"));
    }

    #[test]
    fn bad_arguments_are_validation_errors() {
        for query in [
            "{ me { ... @defer(label: \"a\") { id } ... @defer(label: \"a\") { email } } }",
            "{ me { ... @defer(if: \"yes\") { id } } }",
            "{ me { ... @defer(label: 3) { id } } }",
            "{ me { id @defer } }",
        ] {
            let document = graphql_tools::parser::parse_query::<String>(query)
                .unwrap()
                .into_static();
            let Definition::Operation(operation) = &document.definitions[0] else {
                panic!()
            };
            assert!(DeferInfo::analyse(&document, operation).is_err(), "{query}");
        }
    }
}
