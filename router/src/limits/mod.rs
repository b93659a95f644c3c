//! Limits on what one request may ask for, checked on the parsed document before the
//! (more expensive) validation and planning: nesting depth, aliases and root fields. Body
//! size, parser tokens and the operation timeout are enforced where they apply (HTTP layer,
//! parser, request handler). Rate limits live in [`rate`].

pub mod rate;

use std::collections::{HashMap, HashSet};

use graphql_tools::static_graphql::query::{
    Definition, Document, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
};

use crate::config::LimitsConfig;

/// Selections visited at most while measuring: fragments can fan out exponentially.
const WALK_BUDGET: usize = 100_000;

/// What the selected operation asks for, measured with fragments expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OperationShape {
    pub depth: usize,
    pub aliases: usize,
    pub root_fields: usize,
}

/// The first limit `shape` exceeds, as a message for the client.
pub fn check(shape: OperationShape, limits: &LimitsConfig) -> Result<(), String> {
    if shape.depth > limits.max_depth {
        return Err(format!(
            "query depth {} exceeds the limit of {}",
            shape.depth, limits.max_depth
        ));
    }
    if shape.aliases > limits.max_aliases {
        return Err(format!(
            "{} aliases exceed the limit of {}",
            shape.aliases, limits.max_aliases
        ));
    }
    if shape.root_fields > limits.max_root_fields {
        return Err(format!(
            "{} root fields exceed the limit of {}",
            shape.root_fields, limits.max_root_fields
        ));
    }
    Ok(())
}

/// Measures `operation`. Fragment cycles (which validation rejects later) count once, so
/// this never loops; `budget` caps the work so a fragment fan-out cannot explode it.
pub fn measure(document: &Document, operation: &OperationDefinition) -> OperationShape {
    let fragments: HashMap<&str, &FragmentDefinition> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name.as_str(), f)),
            Definition::Operation(_) => None,
        })
        .collect();
    let selection_set = match operation {
        OperationDefinition::SelectionSet(s) => s,
        OperationDefinition::Query(q) => &q.selection_set,
        OperationDefinition::Mutation(m) => &m.selection_set,
        OperationDefinition::Subscription(s) => &s.selection_set,
    };
    let mut walker = Walker {
        fragments,
        visiting: HashSet::new(),
        aliases: 0,
        budget: WALK_BUDGET,
    };
    let mut root_fields = 0;
    walker.count_root_fields(selection_set, &mut root_fields);
    walker.budget = WALK_BUDGET;
    let depth = walker.depth(selection_set);
    OperationShape {
        depth,
        aliases: walker.aliases,
        root_fields,
    }
}

struct Walker<'a> {
    fragments: HashMap<&'a str, &'a FragmentDefinition>,
    visiting: HashSet<&'a str>,
    aliases: usize,
    /// Selections still allowed to be visited; past it the walk stops counting.
    budget: usize,
}

impl<'a> Walker<'a> {
    fn count_root_fields(&mut self, set: &'a SelectionSet, count: &mut usize) {
        for selection in &set.items {
            if self.budget == 0 {
                // A fragment fan-out this large is over any sane limit anyway.
                *count = usize::MAX / 2;
                return;
            }
            self.budget -= 1;
            match selection {
                Selection::Field(f) => {
                    if !f.name.starts_with("__") {
                        *count += 1;
                    }
                }
                Selection::InlineFragment(i) => self.count_root_fields(&i.selection_set, count),
                Selection::FragmentSpread(s) => {
                    if let Some(fragment) = self.fragments.get(s.fragment_name.as_str())
                        && self.visiting.insert(s.fragment_name.as_str())
                    {
                        self.count_root_fields(&fragment.selection_set, count);
                        self.visiting.remove(s.fragment_name.as_str());
                    }
                }
            }
        }
    }

    /// Depth of the deepest field below `set` (a leaf field is depth 1); counts aliases.
    fn depth(&mut self, set: &'a SelectionSet) -> usize {
        let mut deepest = 0;
        for selection in &set.items {
            if self.budget == 0 {
                // Saturate: a document this large is over any sane limit anyway.
                return usize::MAX / 2;
            }
            self.budget -= 1;
            let d = match selection {
                Selection::Field(f) => {
                    if f.alias.is_some() {
                        self.aliases += 1;
                    }
                    1 + self.depth(&f.selection_set)
                }
                Selection::InlineFragment(i) => self.depth(&i.selection_set),
                Selection::FragmentSpread(s) => {
                    let name = s.fragment_name.as_str();
                    match self.fragments.get(name) {
                        Some(fragment) if self.visiting.insert(name) => {
                            let d = self.depth(&fragment.selection_set);
                            self.visiting.remove(name);
                            d
                        }
                        _ => 0,
                    }
                }
            };
            deepest = deepest.max(d);
        }
        deepest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> OperationShape {
        let doc = graphql_tools::parser::parse_query::<String>(query)
            .unwrap()
            .into_static();
        let op = doc
            .definitions
            .iter()
            .find_map(|d| match d {
                Definition::Operation(o) => Some(o.clone()),
                Definition::Fragment(_) => None,
            })
            .unwrap();
        measure(&doc, &op)
    }

    #[test]
    fn measures_depth_aliases_and_root_fields_through_fragments() {
        let s = shape(
            "query { a: me { ...F } b: me { id } __typename } fragment F on User { friends { friends { id } } }",
        );
        assert_eq!(s.depth, 4);
        assert_eq!(s.aliases, 2);
        assert_eq!(s.root_fields, 2);
    }

    #[test]
    fn fragment_cycles_terminate() {
        let s = shape("{ me { ...A } } fragment A on User { ...B id } fragment B on User { ...A }");
        assert_eq!(s.depth, 2);
    }

    #[test]
    fn limits_name_what_was_exceeded() {
        let limits = LimitsConfig {
            max_depth: 2,
            ..LimitsConfig::default()
        };
        let err = check(
            OperationShape {
                depth: 3,
                aliases: 0,
                root_fields: 1,
            },
            &limits,
        )
        .unwrap_err();
        assert!(err.contains("depth"), "{err}");
    }
}
