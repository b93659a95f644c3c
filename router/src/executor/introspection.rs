//! `__schema` and `__type` answered by the router from the API schema: subgraphs know only
//! their own part of the graph, so introspection of the supergraph has to happen here.

use hive_router_query_planner::ast::{
    selection_item::SelectionItem,
    selection_set::{FieldSelection, SelectionSet},
    value::Value as AstValue,
};
use serde_json::{Map, Value};

use crate::planner::schema::{
    DirectiveInfo, EnumValueInfo, FieldInfo, InputValueInfo, SchemaIndex, TypeInfo, TypeKind,
    TypeRef,
};

/// Values of the root introspection fields, by response key.
pub fn resolve(
    schema: &SchemaIndex,
    fields: &[FieldSelection],
    variables: &Map<String, Value>,
) -> Map<String, Value> {
    let r = Resolver { schema, variables };
    let mut out = Map::new();
    for field in fields {
        let value = match field.name.as_str() {
            "__schema" => r.object("__Schema", &field.selections, |f, sel| {
                r.schema_field(f, sel)
            }),
            "__type" => match r.string_arg(field, "name").and_then(|n| schema.get(&n)) {
                Some(t) => r.named_type(t, &field.selections),
                None => Value::Null,
            },
            _ => Value::Null,
        };
        out.insert(field.selection_identifier().to_owned(), value);
    }
    out
}

enum TypeView<'s> {
    Named(&'s TypeInfo),
    List(&'s TypeRef),
    NonNull(&'s TypeRef),
}

struct Resolver<'s> {
    schema: &'s SchemaIndex,
    variables: &'s Map<String, Value>,
}

impl<'s> Resolver<'s> {
    fn arg(&self, field: &FieldSelection, name: &str) -> Option<Value> {
        let value = field.arguments.as_ref()?.get_argument(name)?;
        Some(match value {
            AstValue::Variable(v) => self.variables.get(v).cloned().unwrap_or(Value::Null),
            AstValue::String(s) | AstValue::Enum(s) => Value::String(s.clone()),
            AstValue::Boolean(b) => Value::Bool(*b),
            AstValue::Int(i) => Value::from(*i),
            _ => Value::Null,
        })
    }

    fn string_arg(&self, field: &FieldSelection, name: &str) -> Option<String> {
        self.arg(field, name)
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    fn include_deprecated(&self, field: &FieldSelection) -> bool {
        self.arg(field, "includeDeprecated")
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    /// Resolves `selections` on an introspection object of type `type_name`.
    fn object(
        &self,
        type_name: &str,
        selections: &SelectionSet,
        resolve: impl Fn(&FieldSelection, &SelectionSet) -> Value + Copy,
    ) -> Value {
        let mut out = Map::new();
        self.collect(type_name, selections, resolve, &mut out);
        Value::Object(out)
    }

    fn collect(
        &self,
        type_name: &str,
        selections: &SelectionSet,
        resolve: impl Fn(&FieldSelection, &SelectionSet) -> Value + Copy,
        out: &mut Map<String, Value>,
    ) {
        for item in &selections.items {
            match item {
                SelectionItem::Field(field) => {
                    let value = if field.name == "__typename" {
                        Value::String(type_name.to_owned())
                    } else {
                        resolve(field, &field.selections)
                    };
                    out.insert(field.selection_identifier().to_owned(), value);
                }
                SelectionItem::InlineFragment(fragment) if fragment.type_condition == type_name => {
                    self.collect(type_name, &fragment.selections, resolve, out);
                }
                _ => {}
            }
        }
    }

    fn schema_field(&self, field: &FieldSelection, sel: &SelectionSet) -> Value {
        let root = |name: Option<&str>| match name.and_then(|n| self.schema.get(n)) {
            Some(t) => self.named_type(t, sel),
            None => Value::Null,
        };
        match field.name.as_str() {
            "description" => opt_str(&self.schema.description),
            "types" => Value::Array(
                self.schema
                    .type_order
                    .iter()
                    .filter_map(|n| self.schema.get(n))
                    .map(|t| self.named_type(t, sel))
                    .collect(),
            ),
            "queryType" => root(Some(&self.schema.query_type)),
            "mutationType" => root(self.schema.mutation_type.as_deref()),
            "subscriptionType" => root(self.schema.subscription_type.as_deref()),
            "directives" => Value::Array(
                self.schema
                    .directives
                    .iter()
                    .filter(|d| is_public_directive(d))
                    .map(|d| self.object("__Directive", sel, |f, s| self.directive_field(d, f, s)))
                    .collect(),
            ),
            _ => Value::Null,
        }
    }

    fn named_type(&self, t: &'s TypeInfo, sel: &SelectionSet) -> Value {
        self.type_view(TypeView::Named(t), sel)
    }

    fn type_ref(&self, ty: &'s TypeRef, sel: &SelectionSet) -> Value {
        match ty {
            TypeRef::Named(name) => match self.schema.get(name) {
                Some(t) => self.named_type(t, sel),
                None => Value::Null,
            },
            TypeRef::List(inner) => self.type_view(TypeView::List(inner), sel),
            TypeRef::NonNull(inner) => self.type_view(TypeView::NonNull(inner), sel),
        }
    }

    fn type_view(&self, view: TypeView<'s>, sel: &SelectionSet) -> Value {
        let view = &view;
        self.object("__Type", sel, |f, s| self.type_field(view, f, s))
    }

    fn type_field(&self, view: &TypeView<'s>, field: &FieldSelection, sel: &SelectionSet) -> Value {
        let t = match view {
            TypeView::List(inner) | TypeView::NonNull(inner) => {
                return match field.name.as_str() {
                    "kind" => Value::String(
                        if matches!(view, TypeView::List(_)) {
                            "LIST"
                        } else {
                            "NON_NULL"
                        }
                        .into(),
                    ),
                    "ofType" => self.type_ref(inner, sel),
                    _ => Value::Null,
                };
            }
            TypeView::Named(t) => *t,
        };
        let deprecated_too = self.include_deprecated(field);
        match field.name.as_str() {
            "kind" => Value::String(t.kind.as_str().into()),
            "name" => Value::String(t.name.clone()),
            "description" => opt_str(&t.description),
            "specifiedByURL" | "specifiedByUrl" => opt_str(&t.specified_by_url),
            "isOneOf" => {
                if t.kind == TypeKind::InputObject {
                    Value::Bool(t.one_of)
                } else {
                    Value::Null
                }
            }
            "fields" if matches!(t.kind, TypeKind::Object | TypeKind::Interface) => Value::Array(
                t.fields
                    .iter()
                    .filter(|f| !f.name.starts_with("__"))
                    .filter(|f| deprecated_too || f.deprecated.is_none())
                    .map(|f| self.object("__Field", sel, |ff, s| self.field_field(f, ff, s)))
                    .collect(),
            ),
            "interfaces" if matches!(t.kind, TypeKind::Object | TypeKind::Interface) => {
                Value::Array(
                    t.interfaces
                        .iter()
                        .filter_map(|i| self.schema.get(i))
                        .map(|i| self.named_type(i, sel))
                        .collect(),
                )
            }
            "possibleTypes" if matches!(t.kind, TypeKind::Interface | TypeKind::Union) => {
                Value::Array(
                    t.possible_types
                        .iter()
                        .filter_map(|p| self.schema.get(p))
                        .map(|p| self.named_type(p, sel))
                        .collect(),
                )
            }
            "enumValues" if t.kind == TypeKind::Enum => Value::Array(
                t.enum_values
                    .iter()
                    .filter(|v| deprecated_too || v.deprecated.is_none())
                    .map(|v| self.object("__EnumValue", sel, |f, _| enum_value_field(v, f)))
                    .collect(),
            ),
            "inputFields" if t.kind == TypeKind::InputObject => Value::Array(
                t.input_fields
                    .iter()
                    .filter(|v| deprecated_too || v.deprecated.is_none())
                    .map(|v| {
                        self.object("__InputValue", sel, |f, s| self.input_value_field(v, f, s))
                    })
                    .collect(),
            ),
            _ => Value::Null,
        }
    }

    fn field_field(&self, f: &'s FieldInfo, field: &FieldSelection, sel: &SelectionSet) -> Value {
        match field.name.as_str() {
            "name" => Value::String(f.name.clone()),
            "description" => opt_str(&f.description),
            "args" => {
                let deprecated_too = self.include_deprecated(field);
                Value::Array(
                    f.args
                        .iter()
                        .filter(|a| deprecated_too || a.deprecated.is_none())
                        .map(|a| {
                            self.object("__InputValue", sel, |ff, s| {
                                self.input_value_field(a, ff, s)
                            })
                        })
                        .collect(),
                )
            }
            "type" => self.type_ref(&f.ty, sel),
            "isDeprecated" => Value::Bool(f.deprecated.is_some()),
            "deprecationReason" => f
                .deprecated
                .as_ref()
                .map(|d| opt_str(&d.reason))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    fn input_value_field(
        &self,
        v: &'s InputValueInfo,
        field: &FieldSelection,
        sel: &SelectionSet,
    ) -> Value {
        match field.name.as_str() {
            "name" => Value::String(v.name.clone()),
            "description" => opt_str(&v.description),
            "type" => self.type_ref(&v.ty, sel),
            "defaultValue" => opt_str(&v.default_value),
            "isDeprecated" => Value::Bool(v.deprecated.is_some()),
            "deprecationReason" => v
                .deprecated
                .as_ref()
                .map(|d| opt_str(&d.reason))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    fn directive_field(
        &self,
        d: &'s DirectiveInfo,
        field: &FieldSelection,
        sel: &SelectionSet,
    ) -> Value {
        match field.name.as_str() {
            "name" => Value::String(d.name.clone()),
            "description" => opt_str(&d.description),
            "locations" => Value::Array(d.locations.iter().cloned().map(Value::String).collect()),
            "args" => Value::Array(
                d.args
                    .iter()
                    .map(|a| {
                        self.object("__InputValue", sel, |f, s| self.input_value_field(a, f, s))
                    })
                    .collect(),
            ),
            "isRepeatable" => Value::Bool(d.repeatable),
            _ => Value::Null,
        }
    }
}

fn enum_value_field(v: &EnumValueInfo, field: &FieldSelection) -> Value {
    match field.name.as_str() {
        "name" => Value::String(v.name.clone()),
        "description" => opt_str(&v.description),
        "isDeprecated" => Value::Bool(v.deprecated.is_some()),
        "deprecationReason" => v
            .deprecated
            .as_ref()
            .map(|d| opt_str(&d.reason))
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn opt_str(s: &Option<String>) -> Value {
    s.as_ref()
        .map(|s| Value::String(s.clone()))
        .unwrap_or(Value::Null)
}

/// Directives clients may use or see; federation's own are composition details.
fn is_public_directive(d: &DirectiveInfo) -> bool {
    d.locations.iter().any(|l| {
        matches!(
            l.as_str(),
            "QUERY"
                | "MUTATION"
                | "SUBSCRIPTION"
                | "FIELD"
                | "FRAGMENT_DEFINITION"
                | "FRAGMENT_SPREAD"
                | "INLINE_FRAGMENT"
                | "VARIABLE_DEFINITION"
        )
    }) || matches!(d.name.as_str(), "deprecated" | "specifiedBy" | "oneOf")
}
