//! What the platform's tests share.

use service_kit::config::Env;

/// The one-command run on free ports over `dir`, with cheap password hashing, plus `extra`.
pub fn platform_env(dir: &std::path::Path, extra: &[(&str, &str)]) -> Env {
    let mut vars: Vec<(String, String)> = [
        ("AUTH_PORT", "0"),
        ("PAYMENTS_PORT", "0"),
        ("NOTIFICATIONS_PORT", "0"),
        ("ROUTER_PORT", "0"),
        ("ROUTER_SUPERGRAPH", "schema/supergraph.graphql"),
        ("ROUTER_SUPERGRAPH_WATCH", "false"),
        ("ARGON2_MEMORY_KIB", "64"),
        ("ARGON2_ITERATIONS", "1"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    vars.push(("DATA_DIR".into(), dir.display().to_string()));
    Env::from_map(vars)
}
