//! Projection: writes the merged data tree as the client asked for it, straight into the
//! response buffer. Subgraph responses carry extra fields (keys, `@requires` inputs) and
//! lack others (type conditions decide what applies), so the response is written from the
//! operation, not copied from the data. A null in a non-null position nulls the nearest
//! nullable parent, per the spec.
//!
//! The operation is compiled once per prepared operation ([`ResponsePlan`]): fields are
//! collected per possible runtime type (fragments resolved), keys pre-escaped, types and enum
//! values looked up, so writing a response does no schema lookup and no allocation per object.

use hive_router_query_planner::ast::{
    operation::OperationDefinition, selection_item::SelectionItem, selection_set::SelectionSet,
};
use serde_json::{Map, Value};

use super::tree::{Node, NodeId, Tree, write_escaped};
use crate::{
    error::{GraphQLError, codes},
    planner::schema::{OperationType, SchemaIndex, TypeKind, TypeRef},
};

/// The response shape of one operation.
#[derive(Debug)]
pub(crate) struct ResponsePlan {
    root_type: String,
    root: Selection,
}

/// A selection set, with its fields collected for each type its values can have.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// By runtime type name; for an object type, one entry. For an abstract type the last
    /// entry is the abstract type itself, for values whose `__typename` is not a known one.
    by_type: Vec<(String, Fields)>,
}

#[derive(Debug, Default)]
struct Fields {
    fields: Vec<FieldPlan>,
    /// Some response key appears more than once (under different `@include`/`@skip`
    /// conditions): the writer merges those that hold.
    repeated_keys: bool,
}

#[derive(Debug)]
struct FieldPlan {
    key: String,
    /// `"key":`, escaped.
    key_json: Vec<u8>,
    name: String,
    /// Variables that must be true (`@include`) or not true (`@skip`).
    conditions: Vec<(String, bool)>,
    ty: TypeRef,
    leaf: Leaf,
    child: Option<Box<Selection>>,
}

#[derive(Debug)]
enum Leaf {
    Typename,
    /// A root `__schema`/`__type`, answered by the router.
    Introspection,
    Scalar,
    Enum(Vec<String>),
    Composite {
        type_name: String,
        is_object: bool,
    },
    /// A field the schema does not have on this type: validation rules it out.
    Unknown,
}

impl ResponsePlan {
    pub fn compile(
        schema: &SchemaIndex,
        operation: &OperationDefinition,
        kind: OperationType,
    ) -> Self {
        let root_type = schema.root_type(kind).unwrap_or("Query").to_owned();
        let mut root = Selection::default();
        let sets = [&operation.selection_set];
        root.by_type
            .push((root_type.clone(), collect(schema, &root_type, &sets)));
        Self { root_type, root }
    }
}

/// The occurrences of one response key under one set of conditions: its field name and
/// every sub-selection asked for it.
struct Group<'s> {
    key: String,
    name: String,
    conditions: Vec<(String, bool)>,
    subs: Vec<&'s SelectionSet>,
}

/// Collects the fields `sets` select on runtime type `type_name` (CollectFields of the
/// spec, with the variable conditions kept), and compiles each field's sub-selection.
fn collect(schema: &SchemaIndex, type_name: &str, sets: &[&SelectionSet]) -> Fields {
    let mut groups: Vec<Group> = Vec::new();
    for set in sets {
        gather(schema, type_name, set, &[], &mut groups);
    }
    let mut fields: Vec<FieldPlan> = groups
        .into_iter()
        .map(|g| compile_field(schema, type_name, g.key, g.name, g.conditions, &g.subs))
        .collect();
    let repeated_keys = fields
        .iter()
        .enumerate()
        .any(|(i, f)| fields[..i].iter().any(|g| g.key == f.key));
    fields.shrink_to_fit();
    Fields {
        fields,
        repeated_keys,
    }
}

fn gather<'s>(
    schema: &SchemaIndex,
    type_name: &str,
    set: &'s SelectionSet,
    outer: &[(String, bool)],
    groups: &mut Vec<Group<'s>>,
) {
    for item in &set.items {
        match item {
            SelectionItem::Field(field) => {
                if field.omit_from_response {
                    continue;
                }
                let conditions = with_conditions(outer, &field.include_if, &field.skip_if);
                let key = field.selection_identifier();
                match groups
                    .iter_mut()
                    .find(|g| g.key == key && g.conditions == conditions)
                {
                    Some(group) => group.subs.push(&field.selections),
                    None => groups.push(Group {
                        key: key.to_owned(),
                        name: field.name.clone(),
                        conditions,
                        subs: vec![&field.selections],
                    }),
                }
            }
            SelectionItem::InlineFragment(fragment) => {
                if schema.type_matches(type_name, &fragment.type_condition) {
                    let conditions =
                        with_conditions(outer, &fragment.include_if, &fragment.skip_if);
                    gather(schema, type_name, &fragment.selections, &conditions, groups);
                }
            }
            SelectionItem::FragmentSpread(_) => {}
        }
    }
}

fn with_conditions(
    outer: &[(String, bool)],
    include_if: &Option<String>,
    skip_if: &Option<String>,
) -> Vec<(String, bool)> {
    let mut all = outer.to_vec();
    if let Some(v) = include_if {
        all.push((v.clone(), true));
    }
    if let Some(v) = skip_if {
        all.push((v.clone(), false));
    }
    all
}

fn compile_field(
    schema: &SchemaIndex,
    parent: &str,
    key: String,
    name: String,
    conditions: Vec<(String, bool)>,
    subs: &[&SelectionSet],
) -> FieldPlan {
    let mut key_json = Vec::with_capacity(key.len() + 3);
    write_escaped(&mut key_json, &key);
    key_json.push(b':');
    let field = |leaf, ty, child| FieldPlan {
        key: key.clone(),
        key_json: key_json.clone(),
        name: name.clone(),
        conditions: conditions.clone(),
        ty,
        leaf,
        child,
    };
    if name == "__typename" {
        return field(Leaf::Typename, TypeRef::Named("String".into()), None);
    }
    if name == "__schema" || name == "__type" {
        return field(Leaf::Introspection, TypeRef::Named("__Type".into()), None);
    }
    let Some(ty) = schema
        .get(parent)
        .and_then(|t| t.field(&name))
        .map(|f| f.ty.clone())
    else {
        return field(Leaf::Unknown, TypeRef::Named(String::new()), None);
    };
    let named = ty.named().to_owned();
    let (leaf, child) = match schema.get(&named) {
        Some(t) if t.kind.is_composite() => {
            let mut selection = Selection::default();
            if t.kind == TypeKind::Object {
                selection
                    .by_type
                    .push((named.clone(), collect(schema, &named, subs)));
            } else {
                for possible in &t.possible_types {
                    selection
                        .by_type
                        .push((possible.clone(), collect(schema, possible, subs)));
                }
                selection
                    .by_type
                    .push((named.clone(), collect(schema, &named, subs)));
            }
            (
                Leaf::Composite {
                    type_name: named,
                    is_object: t.kind == TypeKind::Object,
                },
                Some(Box::new(selection)),
            )
        }
        Some(t) if t.kind == TypeKind::Enum => (
            Leaf::Enum(t.enum_values.iter().map(|v| v.name.clone()).collect()),
            None,
        ),
        _ => (Leaf::Scalar, None),
    };
    field(leaf, ty, child)
}

impl Selection {
    /// The fields for a value whose runtime type is `runtime` (`None`: use the abstract
    /// type's own entry). `None` for a runtime type clients cannot see (an
    /// `@inaccessible` one): such a value is null for them.
    fn fields_for(&self, runtime: Option<&str>) -> Option<(&str, &Fields)> {
        if let [(name, fields)] = self.by_type.as_slice() {
            return Some((name, fields));
        }
        match runtime {
            Some(t) => self
                .by_type
                .iter()
                .find(|(n, _)| n == t)
                .map(|(name, fields)| (name.as_str(), fields)),
            None => self
                .by_type
                .last()
                .map(|(name, fields)| (name.as_str(), fields)),
        }
    }
}

/// Writes `data` (the tree's root) as `plan` asks into `out`; returns the non-null
/// violations found, with their paths.
pub(crate) fn write_data(
    plan: &ResponsePlan,
    tree: &Tree,
    root: NodeId,
    introspection: &Map<String, Value>,
    variables: &Map<String, Value>,
    out: &mut Vec<u8>,
) -> Vec<GraphQLError> {
    let mut w = Writer {
        tree,
        variables,
        introspection,
        out,
        path: Vec::new(),
        violations: Vec::new(),
    };
    let start = w.out.len();
    let fields = plan.root.fields_for(Some(&plan.root_type)).map(|(_, f)| f);
    if fields.is_none_or(|fields| w.object(Some(root), &plan.root_type, &[fields]).is_err()) {
        w.out.truncate(start);
        w.out.extend_from_slice(b"null");
    }
    w.violations
}

/// Adds the null-propagation errors that no other error already explains (a subgraph error
/// at or below the same path, or a failed fetch, whose error may point at the entity above).
pub fn add_violations(errors: &mut Vec<GraphQLError>, violations: Vec<GraphQLError>) {
    let fetch_failed = errors.iter().any(|e| {
        e.path.is_none()
            || matches!(
                e.code(),
                Some(
                    codes::SUBGRAPH_UNAVAILABLE
                        | codes::SUBGRAPH_TIMEOUT
                        | codes::SUBGRAPH_REQUEST_FAILED
                        | codes::SUBGRAPH_INVALID_RESPONSE
                )
            )
    });
    for v in violations {
        if fetch_failed {
            break;
        }
        let Some(vpath) = &v.path else { continue };
        let explained = errors
            .iter()
            .any(|e| e.path.as_ref().is_some_and(|p| at_or_below(p, vpath)));
        if !explained {
            errors.push(v);
        }
    }
}

/// Whether an error at `path` is at or below `position`; `@` in the error's path (the
/// router's authorization errors) stands for any list index.
fn at_or_below(path: &[Value], position: &[Value]) -> bool {
    path.len() >= position.len()
        && path
            .iter()
            .zip(position)
            .all(|(p, v)| p == v || (p.as_str() == Some("@") && v.is_number()))
}

/// A non-null position held null: the enclosing nullable value must become null.
struct Bubble;

#[derive(Clone, Copy)]
enum PathItem<'p> {
    Key(&'p str),
    Index(usize),
}

struct Writer<'a, 'p> {
    tree: &'a Tree,
    variables: &'a Map<String, Value>,
    introspection: &'a Map<String, Value>,
    out: &'a mut Vec<u8>,
    path: Vec<PathItem<'p>>,
    violations: Vec<GraphQLError>,
}

impl<'p> Writer<'_, 'p> {
    fn holds(&self, conditions: &[(String, bool)]) -> bool {
        conditions.iter().all(|(name, include)| {
            let on = self.variables.get(name).and_then(Value::as_bool) == Some(true);
            on == *include
        })
    }

    /// Writes an object from the fields of one or more selections (more than one when the
    /// same key was selected under different conditions that all hold).
    fn object(
        &mut self,
        node: Option<NodeId>,
        type_name: &str,
        parts: &[&'p Fields],
    ) -> Result<(), Bubble> {
        self.out.push(b'{');
        let mut first = true;
        let mut cursor = 0;
        if let [fields] = parts
            && !fields.repeated_keys
        {
            for field in &fields.fields {
                if !self.holds(&field.conditions) {
                    continue;
                }
                self.field(node, type_name, field, &[], &mut first, &mut cursor)?;
            }
        } else {
            // The slow path: group the holding fields of every part by response key, in
            // the order keys first appear.
            let mut groups: Vec<(&'p str, Vec<&'p FieldPlan>)> = Vec::new();
            for fields in parts {
                for field in &fields.fields {
                    if !self.holds(&field.conditions) {
                        continue;
                    }
                    match groups.iter_mut().find(|(k, _)| *k == field.key) {
                        Some((_, list)) => list.push(field),
                        None => groups.push((&field.key, vec![field])),
                    }
                }
            }
            for (_, list) in groups {
                self.field(
                    node,
                    type_name,
                    list[0],
                    &list[1..],
                    &mut first,
                    &mut cursor,
                )?;
            }
        }
        self.out.push(b'}');
        Ok(())
    }

    fn field(
        &mut self,
        node: Option<NodeId>,
        type_name: &str,
        field: &'p FieldPlan,
        more: &[&'p FieldPlan],
        first: &mut bool,
        cursor: &mut usize,
    ) -> Result<(), Bubble> {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
        self.out.extend_from_slice(&field.key_json);
        match &field.leaf {
            Leaf::Typename => {
                write_escaped(self.out, type_name);
                Ok(())
            }
            Leaf::Introspection => {
                let value = self.introspection.get(&field.key).unwrap_or(&Value::Null);
                let _ = serde_json::to_writer(&mut *self.out, value);
                Ok(())
            }
            Leaf::Unknown => {
                self.out.extend_from_slice(b"null");
                Ok(())
            }
            _ => {
                let value = node.and_then(|n| self.tree.get_from(n, &field.key, cursor));
                self.path.push(PathItem::Key(&field.key));
                let result = self.value(value, &field.ty, field, more, type_name);
                self.path.pop();
                result
            }
        }
    }

    fn value(
        &mut self,
        value: Option<NodeId>,
        ty: &TypeRef,
        field: &'p FieldPlan,
        more: &[&'p FieldPlan],
        parent_type: &str,
    ) -> Result<(), Bubble> {
        let start = self.out.len();
        match ty {
            TypeRef::NonNull(inner) => {
                match self.nullable(value, inner, field, more, parent_type) {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        self.out.truncate(start);
                        let message = format!(
                            "Cannot return null for non-nullable field {parent_type}.{}.",
                            field.name
                        );
                        let path = self.path_json();
                        self.violations.push(
                            GraphQLError::new(message, codes::NOT_NULL_VIOLATION).with_path(path),
                        );
                        Err(Bubble)
                    }
                    Err(Bubble) => {
                        self.out.truncate(start);
                        Err(Bubble)
                    }
                }
            }
            _ => {
                if self.nullable(value, ty, field, more, parent_type).is_err() {
                    self.out.truncate(start);
                    self.out.extend_from_slice(b"null");
                }
                Ok(())
            }
        }
    }

    /// Writes a value of a nullable type; `Ok(false)` when it wrote null.
    fn nullable(
        &mut self,
        value: Option<NodeId>,
        ty: &TypeRef,
        field: &'p FieldPlan,
        more: &[&'p FieldPlan],
        parent_type: &str,
    ) -> Result<bool, Bubble> {
        let Some(id) = value else {
            self.out.extend_from_slice(b"null");
            return Ok(false);
        };
        let node = self.tree.node(id);
        if matches!(node, Node::Null) {
            self.out.extend_from_slice(b"null");
            return Ok(false);
        }
        match ty {
            TypeRef::NonNull(inner) => self.nullable(value, inner, field, more, parent_type),
            TypeRef::List(item_type) => {
                let Node::Array { start, len } = node else {
                    self.out.extend_from_slice(b"null");
                    return Ok(false);
                };
                self.out.push(b'[');
                for i in 0..len {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    let item = self.tree.items(start, len)[i as usize];
                    self.path.push(PathItem::Index(i as usize));
                    let result = self.value(Some(item), item_type, field, more, parent_type);
                    self.path.pop();
                    result?;
                }
                self.out.push(b']');
                Ok(true)
            }
            TypeRef::Named(_) => match &field.leaf {
                Leaf::Composite {
                    type_name,
                    is_object,
                } => {
                    if !matches!(node, Node::Object { .. }) {
                        self.out.extend_from_slice(b"null");
                        return Ok(false);
                    }
                    let runtime = if *is_object {
                        None
                    } else {
                        self.tree.typename(id)
                    };
                    let Some(selection) = field.child.as_deref() else {
                        self.out.extend_from_slice(b"null");
                        return Ok(false);
                    };
                    let Some((entry, fields)) = selection.fields_for(runtime) else {
                        self.out.extend_from_slice(b"null");
                        return Ok(false);
                    };
                    let runtime_name = if *is_object {
                        type_name.as_str()
                    } else {
                        runtime.unwrap_or(entry)
                    };
                    if more.is_empty() {
                        self.object(Some(id), runtime_name, &[fields])?;
                    } else {
                        let mut parts = vec![fields];
                        for other in more {
                            if let Some((_, f)) =
                                other.child.as_deref().and_then(|s| s.fields_for(runtime))
                            {
                                parts.push(f);
                            }
                        }
                        self.object(Some(id), runtime_name, &parts)?;
                    }
                    Ok(true)
                }
                Leaf::Enum(values) => {
                    // A value the API schema does not have (an `@inaccessible` one) is null.
                    let known = match node {
                        Node::Str { s, .. } => {
                            let text = self.tree.bytes(s);
                            values.iter().any(|v| v.as_bytes() == text)
                        }
                        _ => false,
                    };
                    if known {
                        self.tree.write_scalar(id, self.out);
                        Ok(true)
                    } else {
                        self.out.extend_from_slice(b"null");
                        Ok(false)
                    }
                }
                _ => {
                    self.tree.write_scalar(id, self.out);
                    Ok(true)
                }
            },
        }
    }

    fn path_json(&self) -> Vec<Value> {
        self.path
            .iter()
            .map(|p| match p {
                PathItem::Key(k) => Value::String((*k).to_owned()),
                PathItem::Index(i) => Value::from(*i),
            })
            .collect()
    }
}
