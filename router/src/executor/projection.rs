//! Projection: writes the merged data tree as the client asked for it. Subgraph responses
//! carry extra fields (keys, `@requires` inputs) and lack others (type conditions decide
//! what applies), so the response is written from the operation, not copied from the data.
//! A null in a non-null position nulls the nearest nullable parent, per the spec.

use hive_router_query_planner::ast::{
    operation::OperationDefinition,
    selection_item::SelectionItem,
    selection_set::{FieldSelection, SelectionSet},
};
use serde_json::{Map, Value};

use crate::{
    error::{GraphQLError, codes},
    planner::schema::{OperationType, SchemaIndex, TypeKind, TypeRef},
};

pub struct Projected {
    /// The `data` value as JSON text (`null` when a non-null root field was null).
    pub json: Vec<u8>,
    /// Non-null positions that held null, with their paths.
    pub violations: Vec<GraphQLError>,
}

/// A non-null position held null: the enclosing nullable value must become null.
struct Bubble;

struct Writer<'a> {
    schema: &'a SchemaIndex,
    variables: &'a Map<String, Value>,
    out: Vec<u8>,
    path: Vec<Value>,
    violations: Vec<GraphQLError>,
}

pub fn project(
    schema: &SchemaIndex,
    operation: &OperationDefinition,
    kind: OperationType,
    data: &Value,
    introspection: &Map<String, Value>,
    variables: &Map<String, Value>,
) -> Projected {
    let root_type = schema.root_type(kind).unwrap_or("Query").to_owned();
    let mut w = Writer {
        schema,
        variables,
        out: Vec::with_capacity(1024),
        path: Vec::new(),
        violations: Vec::new(),
    };
    let empty = Map::new();
    let root = data.as_object().unwrap_or(&empty);
    if w.object(
        root,
        &root_type,
        &operation.selection_set,
        Some(introspection),
    )
    .is_err()
    {
        w.out.clear();
        w.out.extend_from_slice(b"null");
    }
    Projected {
        json: w.out,
        violations: w.violations,
    }
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
            .any(|e| e.path.as_ref().is_some_and(|p| p.starts_with(vpath)));
        if !explained {
            errors.push(v);
        }
    }
}

impl Writer<'_> {
    fn condition_holds(&self, include_if: &Option<String>, skip_if: &Option<String>) -> bool {
        let var = |name: &String| self.variables.get(name).and_then(Value::as_bool);
        if let Some(name) = include_if
            && var(name) != Some(true)
        {
            return false;
        }
        if let Some(name) = skip_if
            && var(name) == Some(true)
        {
            return false;
        }
        true
    }

    fn object(
        &mut self,
        object: &Map<String, Value>,
        type_name: &str,
        selections: &SelectionSet,
        introspection: Option<&Map<String, Value>>,
    ) -> Result<(), Bubble> {
        // Every selection of one response key (direct, through fragments, under different
        // directives) becomes one field whose sub-selections are all of theirs.
        let mut fields: Vec<(&str, Vec<&FieldSelection>)> = Vec::new();
        self.collect_fields(type_name, selections, &mut fields);
        self.out.push(b'{');
        for (i, (key, occurrences)) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_string(&mut self.out, key);
            self.out.push(b':');
            let field = occurrences[0];
            if field.name == "__typename" {
                write_string(&mut self.out, type_name);
                continue;
            }
            if let Some(values) = introspection
                && (field.name == "__schema" || field.name == "__type")
            {
                // Already shaped by the introspection resolver.
                write_value(&mut self.out, values.get(*key).unwrap_or(&Value::Null));
                continue;
            }
            let Some(ty) = self
                .schema
                .get(type_name)
                .and_then(|t| t.field(&field.name))
                .map(|f| f.ty.clone())
            else {
                // Validation rules this out; null keeps the response well-formed.
                self.out.extend_from_slice(b"null");
                continue;
            };
            let merged;
            let selections = if occurrences.len() == 1 {
                &field.selections
            } else {
                merged = SelectionSet {
                    items: occurrences
                        .iter()
                        .flat_map(|f| f.selections.items.iter().cloned())
                        .collect(),
                };
                &merged
            };
            self.path.push(Value::String((*key).to_owned()));
            let result = self.value(object.get(*key), &ty, selections, type_name, &field.name);
            self.path.pop();
            result?;
        }
        self.out.push(b'}');
        Ok(())
    }

    fn collect_fields<'s>(
        &self,
        type_name: &str,
        selections: &'s SelectionSet,
        out: &mut Vec<(&'s str, Vec<&'s FieldSelection>)>,
    ) {
        for item in &selections.items {
            match item {
                SelectionItem::Field(field) => {
                    if field.omit_from_response
                        || !self.condition_holds(&field.include_if, &field.skip_if)
                    {
                        continue;
                    }
                    let key = field.selection_identifier();
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, occurrences)) => occurrences.push(field),
                        None => out.push((key, vec![field])),
                    }
                }
                SelectionItem::InlineFragment(fragment) => {
                    if self
                        .schema
                        .type_matches(type_name, &fragment.type_condition)
                        && self.condition_holds(&fragment.include_if, &fragment.skip_if)
                    {
                        self.collect_fields(type_name, &fragment.selections, out);
                    }
                }
                SelectionItem::FragmentSpread(_) => {}
            }
        }
    }

    fn value(
        &mut self,
        value: Option<&Value>,
        ty: &TypeRef,
        selections: &SelectionSet,
        parent_type: &str,
        field_name: &str,
    ) -> Result<(), Bubble> {
        let start = self.out.len();
        match ty {
            TypeRef::NonNull(inner) => {
                match self.nullable(value, inner, selections, parent_type, field_name) {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        self.out.truncate(start);
                        self.violations.push(
                        GraphQLError::new(
                            format!("Cannot return null for non-nullable field {parent_type}.{field_name}."),
                            codes::NOT_NULL_VIOLATION,
                        )
                        .with_path(self.path.clone()),
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
                if self
                    .nullable(value, ty, selections, parent_type, field_name)
                    .is_err()
                {
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
        value: Option<&Value>,
        ty: &TypeRef,
        selections: &SelectionSet,
        parent_type: &str,
        field_name: &str,
    ) -> Result<bool, Bubble> {
        let value = match value {
            None | Some(Value::Null) => {
                self.out.extend_from_slice(b"null");
                return Ok(false);
            }
            Some(v) => v,
        };
        match ty {
            TypeRef::NonNull(inner) => {
                self.nullable(Some(value), inner, selections, parent_type, field_name)
            }
            TypeRef::List(item_type) => {
                let Value::Array(items) = value else {
                    self.out.extend_from_slice(b"null");
                    return Ok(false);
                };
                self.out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.path.push(Value::from(i));
                    let result =
                        self.value(Some(item), item_type, selections, parent_type, field_name);
                    self.path.pop();
                    result?;
                }
                self.out.push(b']');
                Ok(true)
            }
            TypeRef::Named(name) => {
                let kind = self.schema.get(name).map(|t| t.kind);
                match kind {
                    Some(k) if k.is_composite() => {
                        let Value::Object(object) = value else {
                            self.out.extend_from_slice(b"null");
                            return Ok(false);
                        };
                        let runtime = if k == TypeKind::Object {
                            name.as_str()
                        } else {
                            object
                                .get("__typename")
                                .and_then(Value::as_str)
                                .unwrap_or(name.as_str())
                        };
                        let runtime = runtime.to_owned();
                        self.object(object, &runtime, selections, None)?;
                        Ok(true)
                    }
                    Some(TypeKind::Enum) => {
                        // A value the API schema does not have (an `@inaccessible` one) is null.
                        let known = value.as_str().is_some_and(|v| {
                            self.schema
                                .get(name)
                                .is_some_and(|t| t.enum_values.iter().any(|e| e.name == v))
                        });
                        if known {
                            write_value(&mut self.out, value);
                            Ok(true)
                        } else {
                            self.out.extend_from_slice(b"null");
                            Ok(false)
                        }
                    }
                    _ => {
                        write_value(&mut self.out, value);
                        Ok(true)
                    }
                }
            }
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's string escaping is correct and fast; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    let _ = serde_json::to_writer(&mut *out, v);
}
