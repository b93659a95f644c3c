//! Demand control: an operation's static cost, per the IBM GraphQL cost directive
//! specification as Federation 2.9 carries it in the supergraph (`@cost(weight:)` on fields,
//! arguments and types; `@listSize(assumedSize:, slicingArguments:, sizedFields:)` on list
//! fields and connections). Without directives a field returning an object, interface or
//! union costs 1, a scalar or enum 0, a mutation root field 10; a list multiplies the cost
//! of its items by its size: a slicing argument's value (`first: 20`), else its
//! `assumedSize`, else `demand_control.list_size`.
//!
//! The estimate is computed per request (slicing arguments may be variables) from the
//! normalized operation, before any subgraph is called.

use std::collections::HashMap;

use graphql_tools::static_graphql::schema::{Directive, Document, Value};
use hive_router_query_planner::ast::{
    selection_item::SelectionItem,
    selection_set::{FieldSelection, SelectionSet},
    value::Value as ArgValue,
};
use serde_json::{Map, Value as Json};

use crate::planner::schema::{OperationType, SchemaIndex, TypeRef, directed_types};

/// The cost directives of a supergraph.
#[derive(Debug, Default)]
pub struct CostRules {
    types: HashMap<String, u64>,
    fields: HashMap<(String, String), u64>,
    arguments: HashMap<(String, String, String), u64>,
    lists: HashMap<(String, String), ListSize>,
}

#[derive(Debug, Default, Clone)]
struct ListSize {
    assumed: Option<u64>,
    slicing: Vec<String>,
    sized_fields: Vec<String>,
}

impl CostRules {
    pub fn from_supergraph(document: &Document) -> Self {
        let mut rules = Self::default();
        for (name, directives, fields) in directed_types(document) {
            if let Some(w) = weight(directives) {
                rules.types.insert(name.to_owned(), w);
            }
            for field in fields {
                let key = (name.to_owned(), field.name.clone());
                if let Some(w) = weight(&field.directives) {
                    rules.fields.insert(key.clone(), w);
                }
                for argument in &field.arguments {
                    if let Some(w) = weight(&argument.directives) {
                        rules.arguments.insert(
                            (name.to_owned(), field.name.clone(), argument.name.clone()),
                            w,
                        );
                    }
                }
                if let Some(d) = find(&field.directives, "listSize") {
                    rules.lists.insert(
                        key,
                        ListSize {
                            assumed: int_arg(d, "assumedSize"),
                            slicing: strings_arg(d, "slicingArguments"),
                            sized_fields: strings_arg(d, "sizedFields"),
                        },
                    );
                }
            }
        }
        rules
    }
}

fn find<'d>(directives: &'d [Directive], name: &str) -> Option<&'d Directive> {
    directives
        .iter()
        .find(|d| d.name == name || d.name == format!("cost__{name}"))
}

fn weight(directives: &[Directive]) -> Option<u64> {
    find(directives, "cost").and_then(|d| int_arg(d, "weight"))
}

fn int_arg(d: &Directive, name: &str) -> Option<u64> {
    d.arguments
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| match v {
            Value::Int(i) => i.as_i64().and_then(|i| u64::try_from(i).ok()),
            _ => None,
        })
}

fn strings_arg(d: &Directive, name: &str) -> Vec<String> {
    match d.arguments.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Estimates one operation for one request's variables.
pub struct Estimator<'a> {
    pub rules: &'a CostRules,
    pub schema: &'a SchemaIndex,
    pub variables: &'a Map<String, Json>,
    pub default_list_size: u64,
}

impl Estimator<'_> {
    pub fn operation(&self, set: &SelectionSet, kind: OperationType) -> u64 {
        let Some(root) = self.schema.root_type(kind) else {
            return 0;
        };
        self.set(set, root, kind == OperationType::Mutation, None)
    }

    /// `sized`: the list size a parent's `sizedFields` hands to these fields.
    fn set(
        &self,
        set: &SelectionSet,
        parent: &str,
        mutation_root: bool,
        sized: Option<(&[String], u64)>,
    ) -> u64 {
        let mut total: u64 = 0;
        for item in &set.items {
            let cost = match item {
                SelectionItem::Field(field) if !field.name.starts_with("__") => {
                    let Some((info, weight)) = self.weight(parent, field, mutation_root) else {
                        continue;
                    };
                    let key = (parent.to_owned(), field.name.clone());
                    let named = info.ty.named();
                    let list = self.rules.lists.get(&key);
                    let size = self.size(field, list);
                    let handed = sized
                        .filter(|(names, _)| names.contains(&field.name))
                        .map(|(_, n)| n);
                    let (multiplier, to_children) = match list {
                        Some(l) if !l.sized_fields.is_empty() => {
                            (1, Some((l.sized_fields.as_slice(), size)))
                        }
                        _ if is_list(&info.ty) => (handed.unwrap_or(size), None),
                        _ => (handed.unwrap_or(1), None),
                    };
                    let children = self.set(&field.selections, named, false, to_children);
                    multiplier.saturating_mul(weight.saturating_add(children))
                }
                SelectionItem::InlineFragment(fragment) => self.set(
                    &fragment.selections,
                    &fragment.type_condition,
                    mutation_root,
                    sized,
                ),
                _ => 0,
            };
            total = total.saturating_add(cost);
        }
        total
    }

    /// A field's own weight: its `@cost`, its type's, or the default; plus the `@cost` of
    /// each argument given. `None` for a field the schema does not have.
    fn weight(
        &self,
        parent: &str,
        field: &FieldSelection,
        mutation_root: bool,
    ) -> Option<(&crate::planner::schema::FieldInfo, u64)> {
        let info = self.schema.get(parent)?.field(&field.name)?;
        let named = info.ty.named();
        let composite = self
            .schema
            .get(named)
            .is_some_and(|t| t.kind.is_composite());
        let mut weight = self
            .rules
            .fields
            .get(&(parent.to_owned(), field.name.clone()))
            .or_else(|| self.rules.types.get(named))
            .copied()
            .unwrap_or(if mutation_root {
                10
            } else if composite {
                1
            } else {
                0
            });
        if let Some(arguments) = &field.arguments {
            for name in arguments.keys() {
                let present = arguments
                    .get_argument(name)
                    .is_some_and(|v| !self.is_null(v));
                if present
                    && let Some(w) = self.rules.arguments.get(&(
                        parent.to_owned(),
                        field.name.clone(),
                        name.clone(),
                    ))
                {
                    weight = weight.saturating_add(*w);
                }
            }
        }
        Some((info, weight))
    }

    /// The cost of what was answered: the same weights, with the lists' real lengths.
    pub fn actual(&self, set: &SelectionSet, kind: OperationType, data: &Json) -> u64 {
        let Some(root) = self.schema.root_type(kind) else {
            return 0;
        };
        self.answered(set, root, kind == OperationType::Mutation, data)
    }

    fn answered(&self, set: &SelectionSet, parent: &str, mutation_root: bool, value: &Json) -> u64 {
        let Json::Object(object) = value else {
            return 0;
        };
        let mut total: u64 = 0;
        for item in &set.items {
            let cost = match item {
                SelectionItem::Field(field) if !field.name.starts_with("__") => {
                    let key = field.alias.as_deref().unwrap_or(&field.name);
                    match (object.get(key), self.weight(parent, field, mutation_root)) {
                        (Some(v), Some((info, weight))) => {
                            self.answered_value(field, info.ty.named(), weight, v)
                        }
                        _ => 0,
                    }
                }
                SelectionItem::InlineFragment(fragment) => {
                    // Another runtime type's fragment selected nothing here.
                    let other = object
                        .get("__typename")
                        .and_then(Json::as_str)
                        .is_some_and(|t| !self.schema.type_matches(t, &fragment.type_condition));
                    if other {
                        0
                    } else {
                        self.answered(
                            &fragment.selections,
                            &fragment.type_condition,
                            mutation_root,
                            value,
                        )
                    }
                }
                _ => 0,
            };
            total = total.saturating_add(cost);
        }
        total
    }

    fn answered_value(
        &self,
        field: &FieldSelection,
        named: &str,
        weight: u64,
        value: &Json,
    ) -> u64 {
        match value {
            Json::Null => 0,
            Json::Array(items) => items.iter().fold(0u64, |sum, item| {
                sum.saturating_add(self.answered_value(field, named, weight, item))
            }),
            Json::Object(_) => {
                weight.saturating_add(self.answered(&field.selections, named, false, value))
            }
            _ => weight,
        }
    }

    /// A list's size: the largest slicing argument given, else its assumed size.
    fn size(&self, field: &FieldSelection, list: Option<&ListSize>) -> u64 {
        let Some(list) = list else {
            return self.default_list_size;
        };
        let sliced = list
            .slicing
            .iter()
            .filter_map(|name| field.arguments.as_ref()?.get_argument(name))
            .filter_map(|v| self.int(v))
            .max();
        sliced.or(list.assumed).unwrap_or(self.default_list_size)
    }

    fn int(&self, value: &ArgValue) -> Option<u64> {
        match value {
            ArgValue::Int(i) => u64::try_from(*i).ok(),
            ArgValue::Variable(name) => self.variables.get(name)?.as_u64(),
            _ => None,
        }
    }

    fn is_null(&self, value: &ArgValue) -> bool {
        match value {
            ArgValue::Null => true,
            ArgValue::Variable(name) => self.variables.get(name).is_none_or(Json::is_null),
            _ => false,
        }
    }
}

fn is_list(ty: &TypeRef) -> bool {
    match ty {
        TypeRef::Named(_) => false,
        TypeRef::NonNull(inner) => is_list(inner),
        TypeRef::List(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::LimitsConfig, planner::Supergraph};

    fn platform() -> Supergraph {
        Supergraph::from_sdl(
            include_str!("../../schema/supergraph.graphql"),
            LimitsConfig::default(),
            8,
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn the_actual_cost_counts_the_lists_as_answered() {
        let supergraph = platform();
        let query = "{ me { payments(first: 3) { nodes { id history { status } } } } }";
        let prepared = supergraph.prepare_unguarded(query, None).unwrap();
        let none = Map::new();
        let estimator = Estimator {
            rules: &supergraph.cost,
            schema: &supergraph.schema,
            variables: &none,
            default_list_size: 10,
        };
        let data = serde_json::json!({ "me": { "payments": { "nodes": [
            { "id": "1", "history": [{ "status": "PENDING" }] },
            { "id": "2", "history": [{ "status": "PENDING" }] },
        ] } } });
        let actual = estimator.actual(&prepared.operation.selection_set, prepared.kind, &data);
        assert_eq!(actual, 1 + 1 + 2 * (1 + 1));
        let estimated = estimator.operation(&prepared.operation.selection_set, prepared.kind);
        assert_eq!(estimated, 1 + 1 + 3 * (1 + 10));
    }

    fn estimate(query: &str, variables: Json) -> u64 {
        let supergraph = Supergraph::from_sdl(
            include_str!("../../schema/supergraph.graphql"),
            LimitsConfig::default(),
            8,
            &|_| None,
        )
        .unwrap();
        let prepared = supergraph.prepare_unguarded(query, None).unwrap();
        let variables = variables.as_object().cloned().unwrap_or_default();
        Estimator {
            rules: &supergraph.cost,
            schema: &supergraph.schema,
            variables: &variables,
            default_list_size: 10,
        }
        .operation(&prepared.operation.selection_set, prepared.kind)
    }

    #[test]
    fn objects_cost_one_scalars_nothing_and_lists_their_size() {
        assert_eq!(estimate("{ me { id email } }", Json::Null), 1);
        // payments: a connection sized by `first` (assumed 20) through its edges and nodes.
        assert_eq!(
            estimate("{ me { payments { edges { node { id } } } } }", Json::Null),
            1 + 1 + 20 * (1 + 1)
        );
        assert_eq!(
            estimate(
                "query($n: Int) { me { payments(first: $n) { nodes { id history { status } } } } }",
                serde_json::json!({ "n": 3 })
            ),
            // history has no @listSize: the default list size.
            1 + 1 + 3 * (1 + 10)
        );
        assert_eq!(
            estimate("mutation { logout(refreshToken: \"x\") }", Json::Null),
            10
        );
    }
}
