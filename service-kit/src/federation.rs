//! The Federation directives our subgraphs put on their schemas for the router: access
//! (`@authenticated`, `@requiresScopes`, `@policy`, Federation 2.5/2.6) and demand control
//! (`@cost`, `@listSize`, IBM's cost specification as Federation 2.9 has it). The router
//! enforces them before any subgraph is called; each subgraph keeps its own checks as the
//! second line.
//!
//! Apply them with async-graphql's `directive` attribute, e.g.
//! `#[graphql(directive = authenticated::apply())]`; `@requiresScopes` is async-graphql's
//! own `requires_scopes = "admin"`. async-graphql cannot put them on scalars. (The directives carry plain comments: a doc comment
//! would print as a description of the definition that [`sdl`] leaves out.) [`sdl`] prints the schema with them imported from the
//! federation spec, as composition needs them.

#![allow(non_camel_case_types)]

use async_graphql::{ObjectType, Schema, SubscriptionType, TypeDirective};

// The field (or every field returning the type) needs an authenticated caller.
#[TypeDirective(
    name = "authenticated",
    location = "FieldDefinition",
    location = "Object",
    location = "Interface",
    location = "Enum"
)]
pub fn authenticated() {}

// The caller must satisfy one of the groups of named policies (rules over the token's
// claims, configured in the router).
#[TypeDirective(
    name = "policy",
    location = "FieldDefinition",
    location = "Object",
    location = "Interface",
    location = "Enum"
)]
pub fn policy(policies: Vec<Vec<String>>) {}

// The cost of resolving the field (default: 1 for objects, 0 for scalars and enums).
#[TypeDirective(
    name = "cost",
    location = "FieldDefinition",
    location = "ArgumentDefinition",
    location = "Object",
    location = "Enum"
)]
pub fn cost(weight: i32) {}

// How long a list field's answer is: `assumedSize` items, or the value of one of its
// `slicingArguments` (`first`).
#[TypeDirective(name = "listSize", location = "FieldDefinition")]
pub fn list_size(
    assumed_size: Option<i32>,
    slicing_arguments: Option<Vec<String>>,
    sized_fields: Option<Vec<String>>,
    require_one_slicing_argument: Option<bool>,
) {
}

/// The directives the federation spec defines, which async-graphql would otherwise print
/// as the subgraph's own.
const FEDERATION_DIRECTIVES: [&str; 4] = ["authenticated", "policy", "cost", "listSize"];

/// The subgraph's federation SDL: async-graphql's, linking Federation 2.9 and importing the
/// access and cost directives (it links 2.5 and knows only `@requiresScopes` of them).
pub fn sdl<Q, M, S>(schema: &Schema<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let printed = schema.sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .federation()
            .compose_directive(),
    );
    link_federation_2_9(&printed)
}

fn link_federation_2_9(printed: &str) -> String {
    let mut out = String::with_capacity(printed.len() + 128);
    let mut skipping = false;
    for line in printed.split_inclusive('\n') {
        // A definition async-graphql prints for a spec directive: its description block
        // (kept until here) and its `directive @name(...) on ...` line.
        if FEDERATION_DIRECTIVES.iter().any(|d| {
            line.starts_with(&format!("directive @{d}("))
                || line.starts_with(&format!("directive @{d} "))
        }) {
            skipping = !line.contains(" on ");
            continue;
        }
        if skipping {
            skipping = !line.contains(" on ");
            continue;
        }
        out.push_str(line);
    }
    out.replace(
        "url: \"https://specs.apollo.dev/federation/v2.5\"",
        "url: \"https://specs.apollo.dev/federation/v2.9\"",
    )
    .replace(
        "\"@interfaceObject\", \"@requiresScopes\"]",
        "\"@interfaceObject\", \"@requiresScopes\", \"@authenticated\", \"@policy\", \"@cost\", \"@listSize\"]",
    )
}
