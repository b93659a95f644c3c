//! A `POST /graphql` body as the router receives it: one JSON operation or a batch array,
//! parsed by the router's own body parser, each operation redacted for the debug log,
//! prepared (parsed, limits checked, validated, normalized, planned) against the platform
//! supergraph, and its variables coerced. Everything before execution, without a server.
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

fuzz_target!(|body: &[u8]| {
    router::fuzzing::post_body(supergraph(), body);
});
