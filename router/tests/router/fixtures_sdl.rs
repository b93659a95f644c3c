//! The checked-in fixture SDLs must be what the fixture subgraphs serve, or the composed
//! supergraphs the other tests use would describe different subgraphs. Run with
//! `UPDATE_FIXTURES=1` to rewrite them, then `node compose.mjs` in tests/fixtures.

use crate::common;

#[test]
fn shop_subgraph_sdls_are_up_to_date() {
    check("shop", common::shop::sdls());
}

#[test]
fn catalog_subgraph_sdls_are_up_to_date() {
    check("catalog", common::catalog::sdls());
}

#[test]
fn gateways_benchmark_subgraph_sdls_are_up_to_date() {
    check("gateways", common::gateways::sdls());
}

#[test]
fn vault_subgraph_sdls_are_up_to_date() {
    check("vault", common::vault::sdls());
}

#[test]
fn big_response_subgraph_sdl_is_up_to_date() {
    check("big-response", common::gateways::big_sdls());
}

/// The fixtures of the audit's `@requires` suites.
#[test]
fn requires_subgraph_sdls_are_up_to_date() {
    use common::requires::*;
    for (fixture, sdls) in [
        (argument_conflict::FIXTURE, argument_conflict::sdls()),
        (argument::FIXTURE, argument::sdls()),
        (fragments::FIXTURE, fragments::sdls()),
        (interface::FIXTURE, interface::sdls()),
        (circular::FIXTURE, circular::sdls()),
        (requires_requires::FIXTURE, requires_requires::sdls()),
        (interface_object::FIXTURE, interface_object::sdls()),
        (overrides::FIXTURE, overrides::sdls()),
        (provides::FIXTURE, provides::sdls()),
        (nested::FIXTURE, nested::sdls()),
    ] {
        check(fixture, sdls);
    }
}

fn check(fixture: &str, sdls: Vec<(&str, String)>) {
    let dir = common::fixtures_dir().join(fixture);
    let update = std::env::var("UPDATE_FIXTURES").is_ok_and(|v| v == "1");
    for (name, sdl) in sdls {
        let path = dir.join(format!("{name}.graphql"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &sdl).unwrap();
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            stored,
            sdl,
            "{} is stale; run with UPDATE_FIXTURES=1",
            path.display()
        );
    }
}
