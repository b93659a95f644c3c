//! The planner's plan, compiled once per plan for execution: request-body prefixes with the
//! subgraph operation already escaped, paths and type conditions resolved against the
//! schema, `requires` selections in the form representations are written from. Shared by
//! every request that runs the plan, like the plan itself.

use std::collections::BTreeSet;

use hive_router_query_planner::{
    ast::selection_item::SelectionItem,
    planner::plan_nodes::{
        FetchNode, FetchNodePathSegment, FetchRewrite, FlattenNodePathSegment, PlanNode,
    },
};

use super::tree::write_escaped;
use crate::planner::schema::SchemaIndex;

/// One step of a compiled plan.
#[derive(Debug)]
pub(crate) enum Step {
    Fetch(Box<Fetch>),
    Batch(Box<Batch>),
    Sequence(Vec<Step>),
    Parallel(Vec<Step>),
    Condition {
        variable: String,
        then: Option<Box<Step>>,
        otherwise: Option<Box<Step>>,
    },
    /// A subscription's primary fetch: the event stream, which transports run themselves;
    /// each event then runs the rest of the plan.
    Subscription(Box<Fetch>),
}

/// What every subgraph request of a step shares.
#[derive(Debug)]
pub(crate) struct Request {
    pub service: String,
    /// The subgraph operation (subscriptions send it over a websocket).
    pub document: std::sync::Arc<str>,
    /// `{"query":"<the operation, escaped>"`: the body up to the variables.
    pub body_prefix: Vec<u8>,
    /// The client's variables the operation uses.
    pub variables: Vec<String>,
    pub is_mutation: bool,
}

/// A root fetch (`entity: None`, at `path` when the planner nests one) or an entity fetch.
#[derive(Debug)]
pub(crate) struct Fetch {
    pub request: Request,
    pub path: Vec<PathSegment>,
    pub entity: Option<EntityInput>,
    pub output_rewrites: Vec<Rewrite>,
}

/// Where entities come from and how their representations are written.
#[derive(Debug)]
pub(crate) struct EntityInput {
    pub requires: Vec<Required>,
    pub input_rewrites: Vec<Rewrite>,
}

/// Entity fetches of several kinds to one subgraph in one request (`_e0: _entities(...)`).
#[derive(Debug)]
pub(crate) struct Batch {
    pub request: Request,
    pub aliases: Vec<BatchAlias>,
    /// Distinct representation lists: aliases with the same requirements and paths share one
    /// variable.
    pub inputs: Vec<BatchInput>,
}

#[derive(Debug)]
pub(crate) struct BatchInput {
    pub variable: String,
    pub paths: Vec<Vec<PathSegment>>,
    pub entity: EntityInput,
}

#[derive(Debug)]
pub(crate) struct BatchAlias {
    pub alias: String,
    /// Index into `Batch::inputs`.
    pub input: usize,
    pub output_rewrites: Vec<Rewrite>,
}

/// A segment of a path into the data.
#[derive(Debug, Clone)]
pub(crate) enum PathSegment {
    Field(String),
    /// A list (lists are walked whether or not the path spells them out).
    List,
    /// Objects whose `__typename` satisfies one of these types.
    Types(TypeSet),
}

/// Type names a runtime `__typename` may have for a type condition to hold: the
/// conditions themselves and their possible types. A missing `__typename` holds too.
#[derive(Debug, Clone, Default)]
pub(crate) struct TypeSet {
    names: Vec<String>,
    /// The conditions as written, for the reverse check (an interface's name in the data
    /// against a condition on one of its implementations).
    conditions: Vec<String>,
}

impl TypeSet {
    pub fn new<'a>(schema: &SchemaIndex, conditions: impl IntoIterator<Item = &'a String>) -> Self {
        let mut names = BTreeSet::new();
        let mut written = Vec::new();
        for condition in conditions {
            names.insert(condition.clone());
            if let Some(t) = schema.get(condition) {
                names.extend(t.possible_types.iter().cloned());
            }
            written.push(condition.clone());
        }
        Self {
            names: names.into_iter().collect(),
            conditions: written,
        }
    }

    /// Whether an object with this `__typename` satisfies the condition.
    pub fn holds(&self, schema: &SchemaIndex, typename: Option<&str>) -> bool {
        let Some(t) = typename else { return true };
        self.names.iter().any(|n| n == t)
            || self.conditions.iter().any(|c| schema.type_matches(c, t))
    }
}

/// A field of a `requires` selection. The planner reads a required value from the data
/// under the field's name and writes it into the representation under its alias (an
/// internal alias, `price: _internal_qp_alias_0`, when one fetch needed the same field with
/// different arguments).
#[derive(Debug)]
pub(crate) enum Required {
    Field {
        read: String,
        /// Read when `read` is absent (a required field the data holds under its alias).
        fallback: Option<String>,
        /// `"key":`, escaped.
        key_json: Vec<u8>,
        is_typename: bool,
        children: Vec<Required>,
    },
    Fragment {
        types: TypeSet,
        items: Vec<Required>,
    },
}

/// A planner rewrite, applied to entities before their representation is written (input)
/// or to a subgraph's answer before it is merged (output).
#[derive(Debug)]
pub(crate) struct Rewrite {
    pub path: Vec<RewriteSegment>,
    pub action: RewriteAction,
}

#[derive(Debug)]
pub(crate) enum RewriteSegment {
    Key(String),
    Types(TypeSet),
}

#[derive(Debug)]
pub(crate) enum RewriteAction {
    SetValue(String),
    RenameKey(String),
}

/// Compiles a plan tree.
pub(crate) fn compile(schema: &SchemaIndex, node: &PlanNode) -> Step {
    match node {
        PlanNode::Fetch(fetch) => Step::Fetch(Box::new(compile_fetch(schema, fetch, &[]))),
        PlanNode::Flatten(flatten) => match flatten.node.as_ref() {
            PlanNode::Fetch(fetch) => Step::Fetch(Box::new(compile_fetch(
                schema,
                fetch,
                flatten.path.as_slice(),
            ))),
            other => compile(schema, other),
        },
        PlanNode::BatchFetch(batch) => {
            let request = compile_request(
                &batch.service_name,
                &batch.operation.document_str,
                batch.variable_usages.as_ref(),
                batch.operation_kind.as_ref(),
            );
            let mut inputs: Vec<BatchInput> = Vec::new();
            let aliases = batch
                .entity_batch
                .aliases
                .iter()
                .map(|alias| {
                    let input = match inputs
                        .iter()
                        .position(|i| i.variable == alias.representations_variable_name)
                    {
                        Some(i) => i,
                        None => {
                            inputs.push(BatchInput {
                                variable: alias.representations_variable_name.clone(),
                                paths: alias
                                    .merge_paths
                                    .iter()
                                    .map(|p| compile_path(schema, p.as_slice()))
                                    .collect(),
                                entity: EntityInput {
                                    requires: compile_requires(schema, &alias.requires.items),
                                    input_rewrites: compile_rewrites(
                                        schema,
                                        alias.input_rewrites.as_deref(),
                                    ),
                                },
                            });
                            inputs.len() - 1
                        }
                    };
                    BatchAlias {
                        alias: alias.alias.clone(),
                        input,
                        output_rewrites: compile_rewrites(schema, alias.output_rewrites.as_deref()),
                    }
                })
                .collect();
            Step::Batch(Box::new(Batch {
                request,
                aliases,
                inputs,
            }))
        }
        PlanNode::Sequence(seq) => {
            Step::Sequence(seq.nodes.iter().map(|n| compile(schema, n)).collect())
        }
        PlanNode::Parallel(par) => {
            Step::Parallel(par.nodes.iter().map(|n| compile(schema, n)).collect())
        }
        PlanNode::Condition(cond) => Step::Condition {
            variable: cond.condition.clone(),
            then: cond
                .if_clause
                .as_deref()
                .map(|n| Box::new(compile(schema, n))),
            otherwise: cond
                .else_clause
                .as_deref()
                .map(|n| Box::new(compile(schema, n))),
        },
        PlanNode::Subscription(sub) => {
            Step::Subscription(Box::new(compile_fetch(schema, &sub.primary, &[])))
        }
        // 2.10.11 never plans Defer nodes: `@defer` is split before planning (`defer`).
        PlanNode::Defer(defer) => match defer.primary.node.as_deref() {
            Some(node) => compile(schema, node),
            None => Step::Sequence(Vec::new()),
        },
    }
}

fn compile_fetch(
    schema: &SchemaIndex,
    fetch: &FetchNode,
    path: &[FlattenNodePathSegment],
) -> Fetch {
    Fetch {
        request: compile_request(
            &fetch.service_name,
            &fetch.operation.document_str,
            fetch.variable_usages.as_ref(),
            fetch.operation_kind.as_ref(),
        ),
        path: compile_path(schema, path),
        entity: fetch.requires.as_ref().map(|requires| EntityInput {
            requires: compile_requires(schema, &requires.items),
            input_rewrites: compile_rewrites(schema, fetch.input_rewrites.as_deref()),
        }),
        output_rewrites: compile_rewrites(schema, fetch.output_rewrites.as_deref()),
    }
}

fn compile_request(
    service: &str,
    document: &str,
    variables: Option<&BTreeSet<String>>,
    kind: Option<&hive_router_query_planner::state::supergraph_state::OperationKind>,
) -> Request {
    let mut body_prefix = Vec::with_capacity(document.len() + 16);
    body_prefix.extend_from_slice(b"{\"query\":");
    write_escaped(&mut body_prefix, document);
    Request {
        service: service.to_owned(),
        document: document.into(),
        body_prefix,
        variables: variables.into_iter().flatten().cloned().collect(),
        is_mutation: matches!(
            kind,
            Some(hive_router_query_planner::state::supergraph_state::OperationKind::Mutation)
        ),
    }
}

fn compile_path(schema: &SchemaIndex, path: &[FlattenNodePathSegment]) -> Vec<PathSegment> {
    path.iter()
        .map(|segment| match segment {
            FlattenNodePathSegment::Field(name) => PathSegment::Field(name.clone()),
            FlattenNodePathSegment::List => PathSegment::List,
            FlattenNodePathSegment::TypeCondition(types) => {
                PathSegment::Types(TypeSet::new(schema, types))
            }
        })
        .collect()
}

fn compile_requires(schema: &SchemaIndex, items: &[SelectionItem]) -> Vec<Required> {
    items
        .iter()
        .filter_map(|item| match item {
            SelectionItem::Field(field) => {
                let written = field.selection_identifier();
                let mut key_json = Vec::with_capacity(written.len() + 3);
                write_escaped(&mut key_json, written);
                key_json.push(b':');
                Some(Required::Field {
                    read: field.name.clone(),
                    fallback: field.alias.clone(),
                    key_json,
                    is_typename: written == "__typename",
                    children: compile_requires(schema, &field.selections.items),
                })
            }
            SelectionItem::InlineFragment(fragment) => Some(Required::Fragment {
                types: TypeSet::new(schema, std::iter::once(&fragment.type_condition)),
                items: compile_requires(schema, &fragment.selections.items),
            }),
            SelectionItem::FragmentSpread(_) => None,
        })
        .collect()
}

fn compile_rewrites(schema: &SchemaIndex, rewrites: Option<&[FetchRewrite]>) -> Vec<Rewrite> {
    let segments = |path: &[FetchNodePathSegment]| {
        path.iter()
            .map(|s| match s {
                FetchNodePathSegment::Key(key) => RewriteSegment::Key(key.clone()),
                FetchNodePathSegment::TypenameEquals(types) => {
                    RewriteSegment::Types(TypeSet::new(schema, types))
                }
            })
            .collect()
    };
    rewrites
        .into_iter()
        .flatten()
        .map(|rewrite| match rewrite {
            FetchRewrite::ValueSetter(setter) => Rewrite {
                path: segments(&setter.path),
                action: RewriteAction::SetValue(setter.set_value_to.clone()),
            },
            FetchRewrite::KeyRenamer(renamer) => Rewrite {
                path: segments(&renamer.path),
                action: RewriteAction::RenameKey(renamer.rename_key_to.clone()),
            },
        })
        .collect()
}

impl Step {
    /// The subscription's primary fetch, when this is a subscription plan.
    pub fn subscription(&self) -> Option<&Fetch> {
        match self {
            Step::Subscription(fetch) => Some(fetch),
            Step::Sequence(steps) => steps.first().and_then(Step::subscription),
            _ => None,
        }
    }
}
