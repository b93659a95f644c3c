//! deploy/kubernetes checked against the code, as the compose checks are: each Deployment
//! runs its service's binary from the compose image on the port its configuration binds,
//! with only variables the service reads (and values it accepts), probes and scrape paths
//! the code serves, a grace period that covers its drain; the router reaches every subgraph
//! through its Service; only the router may reach the subgraphs; auth migrates in a Job; no
//! Secret is committed. `scripts/kubernetes.sh` renders the overlays and validates them
//! against the Kubernetes API schemas; these tests read the files as written.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use service_kit::{config::Env, telemetry::LogConfig};

use super::{PROCESS_VARIABLES, compose, yaml};

const DIR: &str = "deploy/kubernetes";
const SERVICES: [&str; 4] = ["router", "auth", "payments", "notifications"];
const SUBGRAPHS: [&str; 3] = ["auth", "payments", "notifications"];
const OVERLAYS: [&str; 2] = ["dev", "production"];

/// The documents of a multi-document YAML file, split at its `---` lines.
fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut chunk = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.trim_end() != "---" {
            chunk.push_str(line);
            chunk.push('\n');
            continue;
        }
        let has_content = chunk
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if has_content {
            let value: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(&chunk).unwrap_or_else(|e| panic!("{path}: {e}"));
            out.push(serde_json::to_value(value).unwrap());
        }
        chunk.clear();
    }
    out
}

fn kustomization(dir: &str) -> Value {
    yaml(&format!("{dir}/kustomization.yaml"))
}

/// Every object the base's kustomization lists, as written.
fn base() -> Vec<Value> {
    let dir = format!("{DIR}/base");
    let mut objects = Vec::new();
    for resource in kustomization(&dir)["resources"].as_array().unwrap() {
        let file = resource.as_str().unwrap();
        objects.extend(documents(&format!("{dir}/{file}")));
    }
    objects
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {DIR}/base"))
}

/// Whether a `matchLabels` selector (absent: every pod) picks pods with `labels`.
fn selects(match_labels: &Value, labels: &Value) -> bool {
    match_labels
        .as_object()
        .is_none_or(|wanted| wanted.iter().all(|(k, v)| labels[k.as_str()] == *v))
}

/// The generated ConfigMaps' literals by name: the base's, with the overlay's merged in.
fn generated_config_maps(overlay: Option<&str>) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut dirs = vec![format!("{DIR}/base")];
    if let Some(overlay) = overlay {
        dirs.push(format!("{DIR}/overlays/{overlay}"));
    }
    let mut maps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for dir in dirs {
        let generators = kustomization(&dir)["configMapGenerator"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for generator in generators {
            let name = generator["name"].as_str().unwrap().to_owned();
            let map = maps.entry(name).or_default();
            for literal in generator["literals"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let (key, value) = literal.as_str().unwrap().split_once('=').unwrap();
                map.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    maps
}

/// The placeholder Secrets of secret.example.yaml: name, then key, then value.
fn example_secrets() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut secrets = BTreeMap::new();
    for secret in documents(&format!("{DIR}/secret.example.yaml")) {
        assert_eq!(secret["kind"], "Secret");
        let data: BTreeMap<String, String> = secret["stringData"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let name = secret["metadata"]["name"].as_str().unwrap().to_owned();
        secrets.insert(name, data);
    }
    secrets
}

/// The overlay's patch files' documents (its inline patches set no variables).
fn overlay_patches(overlay: &str) -> Vec<Value> {
    let dir = format!("{DIR}/overlays/{overlay}");
    let mut out = Vec::new();
    for patch in kustomization(&dir)["patches"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        if let Some(file) = patch["path"].as_str() {
            out.extend(documents(&format!("{dir}/{file}")));
        } else {
            let inline = patch["patch"].as_str().unwrap();
            assert!(
                !inline.contains("/env"),
                "{dir}: set variables in a patch file, which these tests read"
            );
        }
    }
    out
}

/// A Deployment's container, with an overlay's variables merged in by name as a strategic
/// merge patch does.
fn container_in(service: &str, overlay: Option<&str>) -> Value {
    let objects = base();
    let deployment = object(&objects, "Deployment", service);
    let mut container = deployment["spec"]["template"]["spec"]["containers"][0].clone();
    let Some(overlay) = overlay else {
        return container;
    };
    for patch in overlay_patches(overlay) {
        if patch["kind"] != "Deployment" || patch["metadata"]["name"] != service {
            continue;
        }
        let containers = patch["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for patched in containers {
            assert_eq!(patched["name"], container["name"], "{overlay}: {service}");
            let env = container["env"].as_array_mut().unwrap();
            for var in patched["env"].as_array().cloned().unwrap_or_default() {
                env.retain(|v| v["name"] != var["name"]);
                env.push(var);
            }
        }
    }
    container
}

/// A container's environment as its pod sees it: the ConfigMaps it loads, then its own
/// variables, each one from a Secret taken from secret.example.yaml.
fn container_environment(container: &Value, overlay: Option<&str>) -> BTreeMap<String, String> {
    let config_maps = generated_config_maps(overlay);
    let secrets = example_secrets();
    let mut vars = BTreeMap::new();
    for source in container["envFrom"].as_array().cloned().unwrap_or_default() {
        let name = source["configMapRef"]["name"]
            .as_str()
            .expect("variables come from ConfigMaps or one by one");
        let map = config_maps
            .get(name)
            .unwrap_or_else(|| panic!("no generated ConfigMap {name}"));
        vars.extend(map.clone());
    }
    for var in container["env"].as_array().cloned().unwrap_or_default() {
        let name = var["name"].as_str().unwrap().to_owned();
        let value = match var["value"].as_str() {
            Some(value) => value.to_owned(),
            None => {
                let from = &var["valueFrom"]["secretKeyRef"];
                let secret = from["name"].as_str().unwrap();
                let key = from["key"].as_str().unwrap();
                secrets
                    .get(secret)
                    .and_then(|data| data.get(key))
                    .unwrap_or_else(|| {
                        panic!("{name} comes from {secret}/{key}, which secret.example.yaml lacks")
                    })
                    .clone()
            }
        };
        vars.insert(name, value);
    }
    vars
}

fn router_config(env: &Env) -> router::config::RouterConfig {
    let file = format!("{DIR}/base/router-config.yaml");
    router::config::RouterConfig::load(Some(std::path::Path::new(&file)), env).unwrap()
}

/// The port a service's configuration binds.
fn configured_port(service: &str, env: &Env) -> u16 {
    match service {
        "auth" => auth::AuthConfig::from_env(env).unwrap().port,
        "payments" => payments::PaymentsConfig::from_env(env).unwrap().port,
        "notifications" => {
            notifications::NotificationsConfig::from_env(env)
                .unwrap()
                .port
        }
        "router" => router_config(env).port,
        other => panic!("unknown service {other}"),
    }
}

/// The port a service binds with its base Deployment's variables.
fn deployed_port(service: &str) -> u16 {
    let vars = container_environment(&container_in(service, None), None);
    configured_port(service, &Env::from_map(vars))
}

/// The paths a service serves: each `.route("/path", …)` of its sources, however formatted
/// (a subgraph's `/health`, `/ready` and `/metrics` are the kit's `ops_routes`, which its
/// `Host::bind` serves).
fn routes_of(service: &str) -> BTreeSet<String> {
    let mut files = Vec::new();
    if service == "router" {
        files.push("router/src/server.rs".to_owned());
    } else {
        files.push(format!("subgraphs/{service}/src/startup.rs"));
    }
    let mut routes = BTreeSet::new();
    while let Some(file) = files.pop() {
        let source: String = std::fs::read_to_string(&file)
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if file.starts_with("subgraphs/") && source.contains("Host::bind(") {
            files.push("service-kit/src/telemetry.rs".to_owned());
        }
        for call in source.split(".route(\"").skip(1) {
            routes.insert(call.split('"').next().unwrap().to_owned());
        }
    }
    routes
}

/// How long a request in flight may still run once serving stops, from the code.
fn request_timeout_secs(service: &str, env: &Env) -> u64 {
    if service == "router" {
        return router_config(env)
            .limits
            .operation_timeout_ms
            .div_ceil(1000);
    }
    // Every subgraph is served by the kit's host, with its request timeout.
    let file = format!("subgraphs/{service}/src/startup.rs");
    let source = std::fs::read_to_string(&file).unwrap();
    assert!(
        source.contains("Host::bind("),
        "{file}: not served by service_kit::app::Host"
    );
    service_kit::app::REQUEST_TIMEOUT.as_secs()
}

#[test]
fn each_deployment_matches_its_service_config() {
    let objects = base();
    let compose_image = compose()["services"]["auth"]["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let (image, tag) = compose_image.split_once(':').unwrap();
    for overlay in [None, Some("dev"), Some("production")] {
        for service in SERVICES {
            let place = format!("{service} ({})", overlay.unwrap_or("base"));
            let deployment = object(&objects, "Deployment", service);
            let pod = &deployment["spec"]["template"];
            let container = container_in(service, overlay);
            let vars = container_environment(&container, overlay);
            let env = Env::from_map(vars.clone());
            LogConfig::from_env(&env).unwrap();
            let port = configured_port(service, &env);
            for key in vars.keys() {
                assert!(
                    PROCESS_VARIABLES.contains(&key.as_str()) || env.was_read(key),
                    "{DIR} sets {key} for {place}, which {service} never reads"
                );
            }

            // The compose image, running this service's binary (`BIN`, as in compose).
            assert_eq!(container["image"], image, "{place}");
            let binary = match container["command"][0].as_str() {
                Some(command) => command.to_owned(),
                None => vars["BIN"].clone(),
            };
            assert_eq!(binary, service, "{place} runs another binary");

            // The port the code binds, on the container, the Service and the scrape.
            assert_eq!(container["ports"][0]["name"], "http", "{place}");
            let container_port = container["ports"][0]["containerPort"].as_u64();
            assert_eq!(container_port, Some(u64::from(port)), "{place}");
            let service_port = &object(&objects, "Service", service)["spec"]["ports"][0];
            assert_eq!(
                service_port["port"].as_u64(),
                Some(u64::from(port)),
                "{place}"
            );
            assert_eq!(service_port["targetPort"], "http", "{place}");
            let annotations = &pod["metadata"]["annotations"];
            assert_eq!(annotations["prometheus.io/scrape"], "true", "{place}");
            let scraped = annotations["prometheus.io/port"].as_str();
            let scraped: Option<u16> = scraped.and_then(|p| p.parse().ok());
            assert_eq!(scraped, Some(port), "{place}");

            // Probes and the scrape on paths the service serves.
            let routes = routes_of(service);
            let metrics = annotations["prometheus.io/path"].as_str().unwrap();
            assert!(
                routes.contains(metrics),
                "{place}: {service} serves no {metrics}"
            );
            assert!(routes.contains("/graphql"), "{service} serves no /graphql");
            for (probe, path) in [
                ("startupProbe", "/health"),
                ("livenessProbe", "/health"),
                ("readinessProbe", "/ready"),
            ] {
                let get = &container[probe]["httpGet"];
                assert_eq!(get["path"], path, "{place}: {probe}");
                assert_eq!(get["port"], "http", "{place}: {probe}");
                assert!(routes.contains(path), "{service} serves no {path}");
            }

            // Service links would set AUTH_PORT=tcp://… and the like, which the services
            // read as their ports.
            let spec = &pod["spec"];
            assert_eq!(spec["enableServiceLinks"].as_bool(), Some(false), "{place}");
            assert_eq!(
                spec["securityContext"]["runAsNonRoot"].as_bool(),
                Some(true)
            );
        }
    }
    for overlay in OVERLAYS {
        let images = kustomization(&format!("{DIR}/overlays/{overlay}"))["images"].clone();
        assert_eq!(images[0]["name"], image, "{overlay} sets the image");
    }
    let dev = kustomization(&format!("{DIR}/overlays/dev"))["images"][0].clone();
    assert_eq!(dev["newName"], image, "dev runs what docker compose builds");
    assert_eq!(dev["newTag"], tag, "dev runs what docker compose builds");
}

#[test]
fn each_grace_period_covers_its_service_drain() {
    let objects = base();
    for service in SERVICES {
        let spec = &object(&objects, "Deployment", service)["spec"]["template"]["spec"];
        let container = &spec["containers"][0];
        let env = Env::from_map(container_environment(container, None));
        let command = &container["lifecycle"]["preStop"]["exec"]["command"];
        assert_eq!(
            command[0], "sleep",
            "{service}: preStop pauses for endpoints to drop it"
        );
        let pause: u64 = command[1].as_str().unwrap().parse().unwrap();
        let requests = request_timeout_secs(service, &env);
        // Notifications then lets its deliveries in hand finish: an email within the SMTP
        // timeout.
        let deliveries = if service == "notifications" {
            notifications::NotificationsConfig::from_env(&env)
                .unwrap()
                .smtp_timeout
                .as_secs()
        } else {
            0
        };
        let drain = pause + requests + deliveries;
        let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
        assert!(
            grace > drain,
            "{service}: terminationGracePeriodSeconds {grace} does not cover its drain of \
             {drain} s ({pause} s preStop, {requests} s requests, {deliveries} s deliveries)"
        );
    }
}

#[test]
fn the_router_reaches_every_subgraph_through_its_service() {
    let objects = base();
    let container = container_in("router", None);
    let env = Env::from_map(container_environment(&container, None));
    let config = router_config(&env);

    // The file it reads is router-config.yaml, generated into the ConfigMap mounted there.
    let command = serde_json::json!(["router", "--config", "/etc/router/router.yaml"]);
    assert_eq!(container["command"], command);
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/etc/router")
        .expect("nothing mounted at /etc/router");
    let spec = &object(&objects, "Deployment", "router")["spec"]["template"]["spec"];
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["configMap"]["name"], "router-config");
    let generator = kustomization(&format!("{DIR}/base"))["configMapGenerator"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "router-config")
        .unwrap()
        .clone();
    assert_eq!(generator["files"][0], "router.yaml=router-config.yaml");
    // The supergraph is the image's (the Dockerfile copies schema/ to /app/schema/).
    let dockerfile = std::fs::read_to_string("Dockerfile").unwrap();
    assert!(dockerfile.contains("COPY schema/ /app/schema/"));
    assert_eq!(
        config.supergraph.path,
        std::path::PathBuf::from("/app/schema/supergraph.graphql")
    );

    // Every subgraph of the supergraph, by its Service's name and the port its code binds.
    let supergraph = yaml("supergraph.yaml");
    assert_eq!(
        supergraph["subgraphs"].as_object().unwrap().len(),
        SUBGRAPHS.len()
    );
    for name in SUBGRAPHS {
        assert!(supergraph["subgraphs"][name].is_object(), "{name}");
        let port = deployed_port(name);
        let url = config.subgraphs[name].url.as_deref().unwrap();
        assert_eq!(url, format!("http://{name}:{port}/graphql"));
        assert!(object(&objects, "Service", name).is_object());
    }

    // Tokens verified against auth's keys, where payments and notifications fetch them too.
    let jwks = format!(
        "http://auth:{}/.well-known/jwks.json",
        deployed_port("auth")
    );
    let jwt = config.jwt.as_ref().expect("the router verifies tokens");
    assert_eq!(jwt.jwks_url.as_deref(), Some(jwks.as_str()));
    assert!(routes_of("auth").contains("/.well-known/jwks.json"));
    let payments_env = Env::from_map(container_environment(&container_in("payments", None), None));
    let payments_config = payments::PaymentsConfig::from_env(&payments_env).unwrap();
    assert_eq!(payments_config.jwks.url, jwks);
    let notifications_env = Env::from_map(container_environment(
        &container_in("notifications", None),
        None,
    ));
    let notifications_config =
        notifications::NotificationsConfig::from_env(&notifications_env).unwrap();
    assert_eq!(notifications_config.jwks.url, jwks);

    // Per-user limits are shared by every router pod through Redis.
    let per_user = config.rate_limit.per_user.as_ref().unwrap();
    assert!(
        per_user.redis_url.is_some(),
        "per-user limits without Redis"
    );
    // The per-IP limit keys on the connection's address: in production the router's own
    // load balancer keeps it the client's.
    assert!(config.rate_limit.per_ip.is_some());
    let service = overlay_patches("production")
        .into_iter()
        .find(|p| p["kind"] == "Service" && p["metadata"]["name"] == "router")
        .expect("production exposes the router");
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(service["spec"]["externalTrafficPolicy"], "Local");
}

#[test]
fn only_the_router_reaches_the_subgraphs() {
    let objects = base();
    let policies: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "NetworkPolicy")
        .collect();
    let denies_by_default = policies.iter().any(|p| {
        p["spec"]["podSelector"]
            .as_object()
            .is_some_and(|s| s.is_empty())
            && p["spec"]["ingress"].is_null()
            && p["spec"]["policyTypes"][0] == "Ingress"
    });
    assert!(denies_by_default, "no default-deny ingress policy");
    for subgraph in SUBGRAPHS {
        let port = u64::from(deployed_port(subgraph));
        let labels =
            &object(&objects, "Deployment", subgraph)["spec"]["template"]["metadata"]["labels"];
        let mut from_router = false;
        // Policies add up: check every one that picks the subgraph's pods.
        for policy in policies.iter().copied() {
            let spec = &policy["spec"];
            assert!(spec["podSelector"]["matchExpressions"].is_null());
            if !selects(&spec["podSelector"]["matchLabels"], labels) {
                continue;
            }
            let name = policy["metadata"]["name"].as_str().unwrap();
            let Some(rules) = spec["ingress"].as_array() else {
                continue; // lets nothing in
            };
            for rule in rules {
                let ports = rule["ports"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}: a rule without ports opens them all"));
                for open in ports {
                    assert_eq!(
                        open["port"].as_u64(),
                        Some(port),
                        "{name}: {subgraph}'s port"
                    );
                }
                let peers = rule["from"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}: a rule without `from` lets anyone in"));
                for peer in peers {
                    match peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"].as_str() {
                        Some(client) => {
                            assert!(peer["namespaceSelector"].is_null(), "{name}");
                            // Payments and notifications fetch auth's JWKS from its port.
                            let allowed = client == "router"
                                || (subgraph == "auth"
                                    && (client == "payments" || client == "notifications"));
                            assert!(allowed, "{name} lets {client} reach {subgraph}");
                            from_router |= client == "router";
                        }
                        None => {
                            // Prometheus, for /metrics.
                            let namespace = &peer["namespaceSelector"]["matchLabels"];
                            let namespace = &namespace["kubernetes.io/metadata.name"];
                            assert_eq!(namespace, "monitoring", "{name}: {peer}");
                            assert!(peer["podSelector"].is_null(), "{name}: {peer}");
                        }
                    }
                }
            }
        }
        assert!(from_router, "the router cannot reach {subgraph}");
    }
}

#[test]
fn auth_migrates_in_a_job_not_in_every_pod() {
    let objects = base();
    let spec = &object(&objects, "Job", "auth-migrate")["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    assert_eq!(container["command"], serde_json::json!(["auth", "migrate"]));
    let vars = container_environment(container, None);
    let env = Env::from_map(vars.clone());
    let job = auth::AuthConfig::from_env(&env).unwrap();
    for key in vars.keys() {
        assert!(
            PROCESS_VARIABLES.contains(&key.as_str()) || env.was_read(key),
            "{DIR} sets {key} for auth-migrate, which auth never reads"
        );
    }
    let deployed_env = Env::from_map(container_environment(&container_in("auth", None), None));
    let deployed = auth::AuthConfig::from_env(&deployed_env).unwrap();
    assert!(!deployed.uses_sqlite(), "auth runs on PostgreSQL");
    assert_eq!(
        job.database_url, deployed.database_url,
        "the Job migrates auth's database"
    );
    assert!(
        !deployed.run_migrations,
        "auth pods would race the Job and each other"
    );
    assert_eq!(spec["enableServiceLinks"].as_bool(), Some(false));
    for bound in ["requests", "limits"] {
        assert!(
            container["resources"][bound]["memory"].is_string(),
            "{bound}"
        );
    }
}

#[test]
fn every_service_autoscales_within_requests_and_limits_and_has_a_disruption_budget() {
    let objects = base();
    for service in SERVICES {
        let deployment = object(&objects, "Deployment", service);
        assert!(
            deployment["spec"]["replicas"].is_null(),
            "{service}: the autoscaler owns the replica count, which an applied one resets"
        );
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        assert!(selects(
            &deployment["spec"]["selector"]["matchLabels"],
            labels
        ));
        let hpa = object(&objects, "HorizontalPodAutoscaler", service);
        assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
        assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], service);
        let min = hpa["spec"]["minReplicas"].as_u64().unwrap();
        assert!(min >= 2, "{service}: one pod is no high availability");
        assert!(hpa["spec"]["maxReplicas"].as_u64().unwrap() > min);
        let pdb = object(&objects, "PodDisruptionBudget", service);
        assert!(
            selects(&pdb["spec"]["selector"]["matchLabels"], labels),
            "{service}"
        );
        let service_object = object(&objects, "Service", service);
        assert!(
            selects(&service_object["spec"]["selector"], labels),
            "{service}"
        );
        let resources = &deployment["spec"]["template"]["spec"]["containers"][0]["resources"];
        for bound in ["requests", "limits"] {
            for what in ["cpu", "memory"] {
                let value = &resources[bound][what];
                assert!(!value.is_null(), "{service}: no {bound}.{what}");
            }
        }
    }
}

#[test]
fn no_secret_is_committed() {
    let mut dirs = vec![format!("{DIR}/base")];
    dirs.extend(OVERLAYS.iter().map(|o| format!("{DIR}/overlays/{o}")));
    for dir in &dirs {
        let k = kustomization(dir);
        assert!(k["secretGenerator"].is_null(), "{dir} generates a Secret");
        let mut files: Vec<String> = Vec::new();
        for resource in k["resources"].as_array().unwrap() {
            files.push(resource.as_str().unwrap().to_owned());
        }
        for patch in k["patches"].as_array().cloned().unwrap_or_default() {
            if let Some(file) = patch["path"].as_str() {
                files.push(file.to_owned());
            }
        }
        for file in files {
            let path = format!("{dir}/{file}");
            assert!(!file.contains("secret"), "{dir} lists {file}");
            if std::path::Path::new(&path).is_file() {
                for document in documents(&path) {
                    assert_ne!(document["kind"], "Secret", "{path} holds a Secret");
                }
            }
        }
    }
    // The example holds placeholders only, and its hosts are the datastores' Services.
    let secrets = example_secrets();
    for (name, data) in &secrets {
        for (key, value) in data {
            assert!(
                value.contains("CHANGE_ME"),
                "secret.example.yaml: {name}/{key}"
            );
        }
    }
    let objects = base();
    for key in ["DATABASE_URL", "MONGODB_URL", "REDIS_URL", "AMQP_URL"] {
        let url = &secrets["platform-secrets"][key];
        let authority = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', '?']).next())
            .unwrap();
        let address = authority.rsplit('@').next().unwrap();
        let (host, port) = address.split_once(':').unwrap();
        let service = object(&objects, "Service", host);
        assert_eq!(service["spec"]["type"], "ExternalName", "{key}: {host}");
        let listed = service["spec"]["ports"][0]["port"].as_u64();
        assert_eq!(listed, port.parse::<u64>().ok(), "{key}: {host}");
    }
}

#[test]
fn every_file_of_the_base_is_in_its_kustomization() {
    let dir = format!("{DIR}/base");
    let k = kustomization(&dir);
    let mut used: BTreeSet<String> = BTreeSet::from(["kustomization.yaml".to_owned()]);
    for resource in k["resources"].as_array().unwrap() {
        used.insert(resource.as_str().unwrap().to_owned());
    }
    for generator in k["configMapGenerator"].as_array().unwrap() {
        for file in generator["files"].as_array().cloned().unwrap_or_default() {
            let source = file.as_str().unwrap().rsplit('=').next().unwrap();
            used.insert(source.to_owned());
        }
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(used.contains(&name), "{dir}/{name} is in no kustomization");
    }
}
