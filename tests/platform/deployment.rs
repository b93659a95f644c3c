//! docker-compose.yml and the deployment assets checked against the code: service names,
//! ports, variables, and the metrics the dashboards and alerts query.

use std::collections::BTreeMap;

use serde_json::Value;
use service_kit::{config::Env, telemetry::LogConfig};

/// deploy/kubernetes, checked against the code the same way.
mod kubernetes;

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let mut value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    value.apply_merge().unwrap();
    serde_json::to_value(value).unwrap()
}

fn compose() -> Value {
    yaml("docker-compose.yml")
}

/// A service's environment as strings.
fn environment(service: &Value) -> BTreeMap<String, String> {
    service["environment"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// Variables that are read outside the services' `Env` (by the image or by `tracing`).
const PROCESS_VARIABLES: [&str; 2] = ["BIN", "RUST_LOG"];

fn assert_all_read(service: &str, env: &Env, vars: &BTreeMap<String, String>) {
    for key in vars.keys() {
        assert!(
            PROCESS_VARIABLES.contains(&key.as_str()) || env.was_read(key),
            "docker-compose.yml sets {key} for {service}, which {service} never reads"
        );
    }
}

fn healthcheck_port(service: &Value) -> u16 {
    let test = service["healthcheck"]["test"].as_array().unwrap();
    let url = test.last().unwrap().as_str().unwrap();
    let after_host = url.split("localhost:").nth(1).unwrap();
    after_host.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn every_subgraph_of_the_supergraph_is_a_compose_service() {
    let compose = compose();
    let supergraph = yaml("supergraph.yaml");
    let subgraphs: Vec<&String> = supergraph["subgraphs"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(!subgraphs.is_empty());
    for name in subgraphs {
        assert!(
            compose["services"][name].is_object(),
            "no compose service {name}"
        );
    }
    for infra in [
        "postgres",
        "mongo",
        "redis",
        "rabbitmq",
        "mailpit",
        "router",
        "prometheus",
        "grafana",
    ] {
        assert!(
            compose["services"][infra].is_object(),
            "no compose service {infra}"
        );
    }
}

#[test]
fn auth_in_compose_matches_its_config() {
    let compose = compose();
    let service = &compose["services"]["auth"];
    let vars = environment(service);
    let env = Env::from_map(vars.clone());
    let config = auth::AuthConfig::from_env(&env).unwrap();
    LogConfig::from_env(&env).unwrap();
    assert_eq!(config.port, healthcheck_port(service));
    assert_eq!(config.port, auth::config::DEFAULT_PORT);
    assert!(!config.uses_sqlite(), "compose runs auth on PostgreSQL");
    assert!(config.database_url.contains("@postgres:5432/"));
    assert!(
        config
            .common
            .amqp_url
            .as_deref()
            .unwrap()
            .contains("@rabbitmq:5672")
    );
    assert_eq!(config.common.host, "0.0.0.0");
    assert_all_read("auth", &env, &vars);
}

#[test]
fn payments_in_compose_matches_its_config() {
    let compose = compose();
    let service = &compose["services"]["payments"];
    let vars = environment(service);
    let env = Env::from_map(vars.clone());
    let config = payments::PaymentsConfig::from_env(&env).unwrap();
    LogConfig::from_env(&env).unwrap();
    assert_eq!(config.port, healthcheck_port(service));
    assert_eq!(config.port, 4002);
    assert!(vars["MONGODB_URL"].contains("mongo:27017"));
    assert!(vars["JWKS_URL"].starts_with("http://auth:4001/"));
    assert!(
        service["deploy"]["replicas"].as_u64().unwrap() >= 2,
        "two replicas show horizontal scale"
    );
    assert!(
        service["ports"].is_null(),
        "replicas cannot share a published port"
    );
    assert_all_read("payments", &env, &vars);
}

#[test]
fn notifications_in_compose_matches_its_config() {
    let compose = compose();
    let service = &compose["services"]["notifications"];
    let vars = environment(service);
    let env = Env::from_map(vars.clone());
    let config = notifications::NotificationsConfig::from_env(&env).unwrap();
    LogConfig::from_env(&env).unwrap();
    assert_eq!(config.port, healthcheck_port(service));
    assert_eq!(config.port, 4003);
    assert!(vars["SMTP_URL"].contains("mailpit:1025"));
    assert!(vars["REDIS_URL"].contains("redis:6379"));
    assert_all_read("notifications", &env, &vars);
}

#[test]
fn the_router_in_compose_reaches_every_subgraph_by_service_name() {
    let compose = compose();
    let service = &compose["services"]["router"];
    let vars = environment(service);
    let env = Env::from_map(vars.clone());
    LogConfig::from_env(&env).unwrap();
    let config =
        router::config::RouterConfig::load(Some(std::path::Path::new("deploy/router.yaml")), &env)
            .unwrap();
    assert_eq!(config.port, healthcheck_port(service));
    assert_eq!(config.port, 4000);
    let ports = [("auth", 4001), ("payments", 4002), ("notifications", 4003)];
    for (name, port) in ports {
        let url = config.subgraphs[name].url.as_deref().unwrap();
        assert_eq!(url, format!("http://{name}:{port}/graphql"));
    }
    let jwt = config
        .jwt
        .as_ref()
        .expect("compose turns JWT verification on");
    assert_eq!(
        jwt.jwks_url.as_deref(),
        Some("http://auth:4001/.well-known/jwks.json")
    );
    assert!(config.rate_limit.per_user.is_some() && config.rate_limit.per_ip.is_some());
    assert_all_read("router", &env, &vars);
    let mounted = service["volumes"][0].as_str().unwrap();
    assert!(mounted.starts_with("./deploy/router.yaml:"));
}

/// Every metric a dashboard or alert queries is one the code records.
#[test]
fn dashboards_and_alerts_query_metrics_the_code_records() {
    let mut sources = String::new();
    for dir in ["router/src", "service-kit/src", "subgraphs"] {
        for entry in walk(std::path::Path::new(dir)) {
            if entry.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(entry).unwrap());
            }
        }
    }
    let mut queries = String::new();
    for file in [
        "deploy/grafana/dashboards/router.json",
        "deploy/grafana/dashboards/subgraphs.json",
    ] {
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                queries.push_str(target["expr"].as_str().unwrap());
                queries.push('\n');
            }
        }
    }
    queries.push_str(&std::fs::read_to_string("deploy/prometheus/alerts.yml").unwrap());
    let mut names: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in queries.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if word.contains('_') && word.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                names.push(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    let ours = [
        "router_",
        "graphql_",
        "outbox_",
        "events_",
        "users_",
        "logins_",
        "payment",
        "notification",
    ];
    let mut checked = 0;
    for name in names {
        if !ours.iter().any(|p| name.starts_with(p)) {
            continue; // PromQL functions, labels, RabbitMQ's own metrics
        }
        let base = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_count")
            .trim_end_matches("_sum");
        assert!(
            sources.contains(&format!("\"{base}\"")),
            "{base} is queried but never recorded"
        );
        checked += 1;
    }
    assert!(
        checked > 10,
        "the scan found too few metric names ({checked})"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
