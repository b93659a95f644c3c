//! Entity fetches: finding the entities at a plan path, writing their representations
//! straight into the request body (one per distinct representation), applying the planner's
//! rewrites, and merging the subgraph's answers back into every place they belong.

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::{
    plan::{EntityInput, PathSegment, Required, Rewrite, RewriteAction, RewriteSegment},
    tree::{Node, NodeId, Tree, write_escaped},
};
use crate::planner::schema::SchemaIndex;

/// One element of a response path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PathElem {
    Key(String),
    Index(usize),
}

impl PathElem {
    pub fn to_json(&self) -> Value {
        match self {
            Self::Key(k) => Value::String(k.clone()),
            Self::Index(i) => Value::from(*i),
        }
    }
}

/// The entities of one representation list: for each entity found (in path order), the
/// index of its representation in the list, and how many distinct representations there are.
#[derive(Debug, Default)]
pub(crate) struct Targets {
    pub places: Vec<(NodeId, u32)>,
    pub count: u32,
}

/// Finds every object at `path` below `node` (through lists and type conditions).
pub(crate) fn collect(
    tree: &Tree,
    schema: &SchemaIndex,
    node: NodeId,
    path: &[PathSegment],
    out: &mut Vec<NodeId>,
) {
    match tree.node(node) {
        Node::Array { start, len } => {
            // Lists are walked whether or not the path spells out `@`.
            let rest = match path.first() {
                Some(PathSegment::List) => &path[1..],
                _ => path,
            };
            for i in 0..len {
                let item = tree.items(start, len)[i as usize];
                collect(tree, schema, item, rest, out);
            }
        }
        Node::Object { .. } => match path.first() {
            None => out.push(node),
            Some(PathSegment::Field(name)) => {
                if let Some(child) = tree.get(node, name) {
                    collect(tree, schema, child, &path[1..], out);
                }
            }
            Some(PathSegment::List) => collect(tree, schema, node, &path[1..], out),
            Some(PathSegment::Types(types)) => {
                if types.holds(schema, tree.typename(node)) {
                    collect(tree, schema, node, &path[1..], out);
                }
            }
        },
        _ => {}
    }
}

/// The response paths of the objects `collect` finds, in the same order (only needed for
/// errors, so computed only then).
pub(crate) fn collect_paths(
    tree: &Tree,
    schema: &SchemaIndex,
    node: NodeId,
    path: &[PathSegment],
    current: &mut Vec<PathElem>,
    out: &mut Vec<Vec<PathElem>>,
) {
    match tree.node(node) {
        Node::Array { start, len } => {
            let rest = match path.first() {
                Some(PathSegment::List) => &path[1..],
                _ => path,
            };
            for i in 0..len {
                let item = tree.items(start, len)[i as usize];
                current.push(PathElem::Index(i as usize));
                collect_paths(tree, schema, item, rest, current, out);
                current.pop();
            }
        }
        Node::Object { .. } => match path.first() {
            None => out.push(current.clone()),
            Some(PathSegment::Field(name)) => {
                if let Some(child) = tree.get(node, name) {
                    current.push(PathElem::Key(name.clone()));
                    collect_paths(tree, schema, child, &path[1..], current, out);
                    current.pop();
                }
            }
            Some(PathSegment::List) => collect_paths(tree, schema, node, &path[1..], current, out),
            Some(PathSegment::Types(types)) => {
                if types.holds(schema, tree.typename(node)) {
                    collect_paths(tree, schema, node, &path[1..], current, out);
                }
            }
        },
        _ => {}
    }
}

/// Writes the representations of the entities at `paths` into `body` as a JSON array, one
/// per distinct representation, and returns where each entity's answer goes. Entities with
/// no required field present (a null key) are not sent.
pub(crate) fn write_representations(
    tree: &mut Tree,
    schema: &SchemaIndex,
    root: NodeId,
    paths: &[&[PathSegment]],
    input: &EntityInput,
    body: &mut Vec<u8>,
) -> Targets {
    let mut found = Vec::new();
    for path in paths {
        collect(tree, schema, root, path, &mut found);
    }
    let mut targets = Targets {
        places: Vec::with_capacity(found.len()),
        count: 0,
    };
    // Distinct representations by the hash of their bytes; bytes are compared on a hit.
    let mut seen: FxHashMap<u64, u32> = FxHashMap::default();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    body.push(b'[');
    for entity in found {
        let start = body.len();
        if targets.count > 0 {
            body.push(b',');
        }
        let rep_start = body.len();
        let source = if input.input_rewrites.is_empty() {
            entity
        } else {
            // Rewrites apply to the representation only: a copy of the entity.
            let copy = tree.deep_copy(entity);
            for rewrite in &input.input_rewrites {
                apply_rewrite(tree, schema, copy, &rewrite.path, rewrite);
            }
            copy
        };
        if !write_requires(tree, schema, source, &input.requires, body) {
            body.truncate(start);
            continue;
        }
        let hash = {
            use std::hash::BuildHasher;
            rustc_hash::FxBuildHasher.hash_one(&body[rep_start..])
        };
        let existing = seen.get(&hash).copied().filter(|&i| {
            let (s, e) = spans[i as usize];
            body[s..e] == body[rep_start..]
        });
        match existing {
            Some(index) => {
                body.truncate(start);
                targets.places.push((entity, index));
            }
            None => {
                let index = targets.count;
                seen.entry(hash).or_insert(index);
                spans.push((rep_start, body.len()));
                targets.places.push((entity, index));
                targets.count += 1;
            }
        }
    }
    body.push(b']');
    targets
}

/// The representation of an object: `__typename` first, then the required fields present
/// (nulls left out). `false` when no required field but `__typename` is present.
fn write_requires(
    tree: &Tree,
    schema: &SchemaIndex,
    entity: NodeId,
    requires: &[Required],
    out: &mut Vec<u8>,
) -> bool {
    if !matches!(tree.node(entity), Node::Object { .. }) {
        return false;
    }
    let start = out.len();
    out.push(b'{');
    let typename = tree.get(entity, "__typename");
    let mut count = 0usize;
    if let Some(t) = typename.filter(|t| !tree.is_null(*t)) {
        out.extend_from_slice(b"\"__typename\":");
        tree.write_scalar(t, out);
        count = 1;
    }
    let with_typename = count;
    write_required_fields(tree, schema, entity, requires, out, &mut count, true);
    if count == with_typename {
        out.truncate(start);
        return false;
    }
    out.push(b'}');
    true
}

fn write_required_fields(
    tree: &Tree,
    schema: &SchemaIndex,
    object: NodeId,
    requires: &[Required],
    out: &mut Vec<u8>,
    count: &mut usize,
    typename_written: bool,
) {
    let runtime = tree.typename(object);
    for item in requires {
        match item {
            Required::Field {
                read,
                fallback,
                key_json,
                is_typename,
                children,
            } => {
                if *is_typename && typename_written {
                    continue;
                }
                let value = tree
                    .get(object, read)
                    .or_else(|| fallback.as_deref().and_then(|f| tree.get(object, f)));
                let Some(value) = value.filter(|v| !tree.is_null(*v)) else {
                    continue;
                };
                if *count > 0 {
                    out.push(b',');
                }
                *count += 1;
                out.extend_from_slice(key_json);
                if children.is_empty() {
                    tree.write_json(value, out);
                } else {
                    write_nested(tree, schema, value, children, out);
                }
            }
            Required::Fragment { types, items } => {
                if types.holds(schema, runtime) {
                    write_required_fields(
                        tree,
                        schema,
                        object,
                        items,
                        out,
                        count,
                        typename_written,
                    );
                }
            }
        }
    }
}

fn write_nested(
    tree: &Tree,
    schema: &SchemaIndex,
    value: NodeId,
    items: &[Required],
    out: &mut Vec<u8>,
) {
    match tree.node(value) {
        Node::Array { start, len } => {
            out.push(b'[');
            for i in 0..len {
                if i > 0 {
                    out.push(b',');
                }
                let item = tree.items(start, len)[i as usize];
                write_nested(tree, schema, item, items, out);
            }
            out.push(b']');
        }
        Node::Object { .. } => {
            out.push(b'{');
            let mut count = 0;
            write_required_fields(tree, schema, value, items, out, &mut count, false);
            out.push(b'}');
        }
        _ => tree.write_scalar(value, out),
    }
}

/// Applies a planner rewrite below `node`: a value setter (e.g. `__typename` of an
/// `@interfaceObject` representation) or a key renamer (an internal alias back to its
/// field's response key).
pub(crate) fn apply_rewrite(
    tree: &mut Tree,
    schema: &SchemaIndex,
    node: NodeId,
    path: &[RewriteSegment],
    rewrite: &Rewrite,
) {
    if let Node::Array { start, len } = tree.node(node) {
        for i in 0..len {
            let item = tree.items(start, len)[i as usize];
            apply_rewrite(tree, schema, item, path, rewrite);
        }
        return;
    }
    if !matches!(tree.node(node), Node::Object { .. }) {
        return;
    }
    match path.first() {
        None => {}
        Some(RewriteSegment::Types(types)) if types.holds(schema, tree.typename(node)) => {
            apply_rewrite(tree, schema, node, &path[1..], rewrite);
        }
        Some(RewriteSegment::Types(_)) => {}
        Some(RewriteSegment::Key(key)) if path.len() == 1 => match &rewrite.action {
            RewriteAction::SetValue(value) => tree.set_string_field(node, key, value),
            RewriteAction::RenameKey(to) => tree.rename_key(node, key, to),
        },
        Some(RewriteSegment::Key(key)) => {
            if let Some(child) = tree.get(node, key) {
                apply_rewrite(tree, schema, child, &path[1..], rewrite);
            }
        }
    }
}

/// Merges the answers of an entity fetch (`entities`: the `_entities` list's items) into
/// every place their representation came from. An answer that goes to several places is
/// copied for each place after the first.
pub(crate) fn merge_answers(
    tree: &mut Tree,
    schema: &SchemaIndex,
    targets: &Targets,
    entities: &[NodeId],
    output_rewrites: &[Rewrite],
) {
    for &entity in entities {
        for rewrite in output_rewrites {
            apply_rewrite(tree, schema, entity, &rewrite.path, rewrite);
        }
    }
    // Copies are made before any merge, while every answer is still as the subgraph sent
    // it (a merged answer shares nodes with the place it went to).
    let mut used = vec![false; entities.len()];
    let mut merges = Vec::with_capacity(targets.places.len());
    for &(place, index) in &targets.places {
        let Some(&entity) = entities.get(index as usize) else {
            continue;
        };
        if tree.is_null(entity) {
            continue;
        }
        let source = if used[index as usize] {
            tree.deep_copy(entity)
        } else {
            used[index as usize] = true;
            entity
        };
        merges.push((place, source));
    }
    for (place, source) in merges {
        tree.merge(schema, place, source);
    }
}

/// Writes `"name":value` for each of the client's variables a fetch uses.
pub(crate) fn write_variables(
    names: &[String],
    variables: &serde_json::Map<String, Value>,
    out: &mut Vec<u8>,
    mut first: bool,
) {
    for name in names {
        if let Some(value) = variables.get(name) {
            if !first {
                out.push(b',');
            }
            first = false;
            write_escaped(out, name);
            out.push(b':');
            let _ = serde_json::to_writer(&mut *out, value);
        }
    }
}
