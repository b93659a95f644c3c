//! A GraphQL document as the router prepares it: parsed with the token limit, its operation
//! selected, depth/alias/root-field limits checked, validated with graphql-tools against the
//! platform supergraph's API schema, then normalized and planned with
//! hive-router-query-planner. The router catches planner panics (`Supergraph::prepare`); this
//! target does not, so a panic anywhere on the way is a finding.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use router::Supergraph;

static SUPERGRAPH: OnceLock<Supergraph> = OnceLock::new();

fn supergraph() -> &'static Supergraph {
    SUPERGRAPH.get_or_init(|| {
        router::fuzzing::supergraph(include_str!("../../schema/supergraph.graphql"))
            .expect("the platform supergraph loads")
    })
}

fuzz_target!(|data: &[u8]| {
    // The router only ever sees documents as JSON strings, which are UTF-8.
    let Ok(document) = std::str::from_utf8(data) else {
        return;
    };
    let _ = router::fuzzing::prepare(supergraph(), document, None);
});
