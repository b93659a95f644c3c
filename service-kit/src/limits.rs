//! Operation limits every subgraph applies, so that a client that reaches a subgraph
//! without the router meets the same line the router draws: depth, aliases, root fields,
//! complexity and the number of `_entities` representations. Every refusal is a GraphQL
//! error with `extensions.code: LIMIT_EXCEEDED`.

use std::sync::Arc;

use async_graphql::{
    ObjectType, ServerError, ServerResult, SubscriptionType, ValidationResult, Value, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation},
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

use crate::config::{ConfigError, Env};

/// The code of every limit's error, as the router sends it.
pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";

/// How much one operation may ask of a subgraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationLimits {
    /// Nesting depth of selections (`GRAPHQL_MAX_DEPTH`, as the router's default: 32).
    pub max_depth: usize,
    /// Aliased fields in the whole document (`GRAPHQL_MAX_ALIASES`, 64).
    pub max_aliases: usize,
    /// Fields at the root of an operation (`GRAPHQL_MAX_ROOT_FIELDS`, 64).
    pub max_root_fields: usize,
    /// async-graphql's complexity: one per field unless a field says otherwise
    /// (`GRAPHQL_MAX_COMPLEXITY`, 2000).
    pub max_complexity: usize,
    /// Representations in one `_entities` call (`GRAPHQL_MAX_REPRESENTATIONS`, 1000): the
    /// router sends one per distinct entity of a fetch.
    pub max_representations: usize,
}

impl Default for OperationLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_aliases: 64,
            max_root_fields: 64,
            max_complexity: 2000,
            max_representations: 1000,
        }
    }
}

impl OperationLimits {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            max_depth: env.ranged_or("GRAPHQL_MAX_DEPTH", d.max_depth, 1..=1000)?,
            max_aliases: env.ranged_or("GRAPHQL_MAX_ALIASES", d.max_aliases, 0..=100_000)?,
            max_root_fields: env.ranged_or(
                "GRAPHQL_MAX_ROOT_FIELDS",
                d.max_root_fields,
                1..=100_000,
            )?,
            max_complexity: env.ranged_or(
                "GRAPHQL_MAX_COMPLEXITY",
                d.max_complexity,
                1..=10_000_000,
            )?,
            max_representations: env.ranged_or(
                "GRAPHQL_MAX_REPRESENTATIONS",
                d.max_representations,
                1..=1_000_000,
            )?,
        })
    }

    /// `builder` with these limits: async-graphql's own depth and complexity limits, and
    /// an extension for the rest.
    pub fn apply<Q, M, S>(
        self,
        builder: async_graphql::SchemaBuilder<Q, M, S>,
    ) -> async_graphql::SchemaBuilder<Q, M, S>
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        builder
            .limit_depth(self.max_depth)
            .limit_complexity(self.max_complexity)
            .extension(self)
    }

    /// The first limit `document` exceeds, as a message for the client.
    fn check(&self, document: &ExecutableDocument, variables: &Variables) -> Result<(), String> {
        let mut aliases = 0;
        for fragment in document.fragments.values() {
            aliases += count_aliases(&fragment.node.selection_set.node);
        }
        for (_, operation) in document.operations.iter() {
            let root = &operation.node.selection_set.node;
            aliases += count_aliases(root);
            let root_fields = root_fields(root, document);
            if root_fields > self.max_root_fields {
                return Err(format!(
                    "the operation selects {root_fields} root fields; at most {} are allowed",
                    self.max_root_fields
                ));
            }
            for representations in entities_calls(root, variables) {
                if representations > self.max_representations {
                    return Err(format!(
                        "_entities got {representations} representations; at most {} are allowed",
                        self.max_representations
                    ));
                }
            }
        }
        if aliases > self.max_aliases {
            return Err(format!(
                "the document has {aliases} aliases; at most {} are allowed",
                self.max_aliases
            ));
        }
        Ok(())
    }
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(inline) => count_aliases(&inline.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Fields at the root, through inline fragments and named fragments spread at the root
/// (each fragment counted once, so a cycle cannot loop: validation refuses it later).
fn root_fields(set: &SelectionSet, document: &ExecutableDocument) -> usize {
    let mut seen = Vec::new();
    fn walk<'a>(
        set: &'a SelectionSet,
        document: &'a ExecutableDocument,
        seen: &mut Vec<&'a str>,
    ) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(inline) => {
                    walk(&inline.node.selection_set.node, document, seen)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if seen.contains(&name) {
                        return 0;
                    }
                    seen.push(name);
                    document
                        .fragments
                        .get(&spread.node.fragment_name.node)
                        .map_or(0, |f| walk(&f.node.selection_set.node, document, seen))
                }
            })
            .sum()
    }
    walk(set, document, &mut seen)
}

/// The number of representations of each `_entities` field at the root (a literal list or
/// a variable's).
fn entities_calls(set: &SelectionSet, variables: &Variables) -> Vec<usize> {
    let mut counts = Vec::new();
    for item in &set.items {
        match &item.node {
            Selection::Field(field) if field.node.name.node == "_entities" => {
                for (name, value) in &field.node.arguments {
                    if name.node != "representations" {
                        continue;
                    }
                    let n = match &value.node {
                        async_graphql_value::Value::List(items) => items.len(),
                        async_graphql_value::Value::Variable(var) => match variables.get(var) {
                            Some(Value::List(items)) => items.len(),
                            _ => 0,
                        },
                        _ => 0,
                    };
                    counts.push(n);
                }
            }
            Selection::InlineFragment(inline) => {
                counts.extend(entities_calls(&inline.node.selection_set.node, variables));
            }
            _ => {}
        }
    }
    counts
}

impl ExtensionFactory for OperationLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn limit_error(message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", LIMIT_EXCEEDED);
    error
}

#[async_trait::async_trait]
impl Extension for OperationLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await.map_err(|error| {
            // The parser's own guard against deep nesting is the depth limit too.
            if error
                .message
                .starts_with("The recursion depth of the query")
            {
                limit_error(format!(
                    "the operation is nested deeper than {}",
                    self.max_depth
                ))
            } else {
                error
            }
        })?;
        self.check(&document, variables).map_err(limit_error)?;
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        // async-graphql's own depth and complexity limits fail validation without a code.
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| match error.message.as_str() {
                    "Query is nested too deep." => limit_error(format!(
                        "the operation is nested deeper than {}",
                        self.max_depth
                    )),
                    "Query is too complex." => limit_error(format!(
                        "the operation is more complex than {}",
                        self.max_complexity
                    )),
                    _ => error,
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, variables: serde_json::Value) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let variables = Variables::from_json(variables);
        OperationLimits {
            max_aliases: 2,
            max_root_fields: 3,
            max_representations: 2,
            ..OperationLimits::default()
        }
        .check(&document, &variables)
    }

    #[test]
    fn aliases_are_counted_in_operations_and_fragments() {
        assert!(check("{ a: x b: y { c: z } }", serde_json::json!({})).is_err());
        assert!(
            check(
                "{ a: x ...F } fragment F on Q { b: y { c: z } }",
                serde_json::json!({})
            )
            .is_err()
        );
        assert!(check("{ a: x b: y }", serde_json::json!({})).is_ok());
    }

    #[test]
    fn root_fields_are_counted_through_fragments() {
        assert!(
            check(
                "{ a b ...F } fragment F on Q { c d }",
                serde_json::json!({})
            )
            .is_err()
        );
        assert!(check("{ a ... on Q { b c } }", serde_json::json!({})).is_ok());
        // A cycle of fragments terminates (validation refuses it afterwards).
        assert!(check("{ ...F } fragment F on Q { a ...F }", serde_json::json!({})).is_ok());
    }

    #[test]
    fn representations_are_counted_in_literals_and_variables() {
        let q = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }";
        let three = serde_json::json!({ "r": [{}, {}, {}] });
        assert!(check(q, three).unwrap_err().contains("3 representations"));
        assert!(check(q, serde_json::json!({ "r": [{}, {}] })).is_ok());
        assert!(
            check(
                "{ _entities(representations: [{}, {}, {}]) { __typename } }",
                serde_json::json!({})
            )
            .is_err()
        );
    }
}
