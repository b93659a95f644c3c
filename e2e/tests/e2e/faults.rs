//! Faults on the running platform, each with what must hold afterwards. A server "stops"
//! for the platform when the TCP proxy in front of it drops every connection and refuses new
//! ones: what the services see is what a stopped server looks like, while other suites on
//! the same server carry on.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use e2e::{Client, Options, Service, Session, Stack};
use serde_json::{Value, json};
use service_kit::testing::error_code;

use service_kit::testing::eventually;

/// How long RabbitMQ stays away in the outage test: `E2E_OUTAGE_SECS`, 30 by default.
fn outage() -> Duration {
    Duration::from_secs(
        std::env::var("E2E_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    )
}

/// One HTTP answer under load: its status and body.
type Answer = (u16, Value);

/// `clients` loops sending `query` as `token` until `stop` is set; every answer is kept.
fn load(
    client: &Client,
    token: &str,
    query: &'static str,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Answer>>> {
    (0..clients)
        .map(|_| {
            let (client, token, stop) = (client.clone(), token.to_owned(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let response = client
                        .http
                        .post(&client.url)
                        .bearer_auth(&token)
                        .json(&json!({ "query": query }))
                        .send()
                        .await;
                    match response {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let body = response.json().await.unwrap_or(Value::Null);
                            answers.push((status, body));
                        }
                        Err(e) => answers.push((0, json!({ "transport": e.to_string() }))),
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                answers
            })
        })
        .collect()
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Vec<Answer>>>) -> Vec<Answer> {
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

/// The kinds of a user's notifications and how many of each.
async fn notification_kinds(client: &Client, session: &Session) -> HashMap<String, usize> {
    let data = client
        .ok(
            "{ me { notifications(first: 100) { edges { node { kind } } } } }",
            json!({}),
            Some(&session.access_token),
        )
        .await;
    let mut kinds = HashMap::new();
    for edge in data["me"]["notifications"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let kind = edge["node"]["kind"].as_str().unwrap_or_default().to_owned();
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds
}

/// On a failure: where the events went (outbox and consumer counters, the broker's queues
/// and bindings), since the services' logs do not say.
async fn report_event_flow(stack: &Stack) {
    for service in [Service::Auth, Service::Payments, Service::Notifications] {
        for metric in [
            "outbox_events_published_total",
            "outbox_lag_seconds",
            "outbox_publish_failures_total",
            "events_consumed_total",
        ] {
            eprintln!(
                "{service:?} {metric} = {}",
                stack.metric(service, metric).await
            );
        }
    }
    let rabbitmqctl = |args: &[&str]| {
        std::process::Command::new("rabbitmqctl")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let queues = rabbitmqctl(&[
        "list_queues",
        "name",
        "messages_ready",
        "messages_unacknowledged",
        "consumers",
    ]);
    let bindings = rabbitmqctl(&[
        "list_bindings",
        "source_name",
        "destination_name",
        "routing_key",
    ]);
    let ours: Vec<&str> = bindings
        .lines()
        .filter(|l| l.starts_with(stack.exchange()))
        .collect();
    let queues: Vec<&str> = queues
        .lines()
        .filter(|q| {
            ours.iter()
                .any(|b| q.split('\t').next().is_some_and(|name| b.contains(name)))
        })
        .collect();
    eprintln!(
        "bindings of {}: {ours:#?}\nqueues bound to it: {queues:#?}",
        stack.exchange()
    );
}

async fn pay(client: &Client, session: &Session, key: &str) -> String {
    let id = client.create_payment(session, 1000, key).await;
    let processed = client
        .ok(
            "mutation($id: ID!) { processPayment(id: $id) { status } }",
            json!({ "id": id }),
            Some(&session.access_token),
        )
        .await;
    assert_eq!(processed["processPayment"]["status"], "COMPLETED");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_away_while_users_register_and_pay_then_every_notification_exactly_once() {
    let stack = Stack::start(Options::default()).await.unwrap();
    let client = stack.client();
    let before = client
        .register("before@example.com", "a long password")
        .await
        .unwrap();

    stack.rabbitmq.disable();
    let started = tokio::time::Instant::now();
    // Users register and pay while the broker is away: the requests succeed, and the
    // events wait in the services' outboxes.
    let mut during = Vec::new();
    for i in 0..4 {
        let user = client
            .register(&format!("during{i}@example.com"), "a long password")
            .await
            .unwrap();
        pay(&client, &user, &format!("outage-{i}")).await;
        during.push(user);
    }
    pay(&client, &before, "outage-before").await;
    tokio::time::sleep(outage().saturating_sub(started.elapsed())).await;
    stack.rabbitmq.enable();

    // Every event arrives once the broker is back, and each notification exists once.
    let expected = HashMap::from([
        ("WELCOME".to_owned(), 1),
        ("PAYMENT_CREATED".to_owned(), 1),
        ("PAYMENT_COMPLETED".to_owned(), 1),
    ]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for user in during.iter().chain([&before]) {
        let mut kinds = notification_kinds(&client, user).await;
        while kinds != expected && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            kinds = notification_kinds(&client, user).await;
        }
        if kinds != expected {
            report_event_flow(&stack).await;
        }
        assert_eq!(kinds, expected, "{}'s notifications", user.email);
    }
    // Redelivered events (the broker saw some twice) changed nothing: still exactly once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for user in during.iter().chain([&before]) {
        assert_eq!(
            notification_kinds(&client, user).await,
            expected,
            "{}",
            user.email
        );
    }
    // The welcome email went out once per user, through the real SMTP server.
    let mails = stack.mails();
    for user in during.iter().chain([&before]) {
        let welcomes = mails
            .iter()
            .filter(|m| m.contains(&format!("<{}>", user.email)) && m.contains("Subject: Welcome"))
            .count();
        assert_eq!(welcomes, 1, "welcome emails to {}", user.email);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subgraph_killed_mid_load_gives_partial_data_opens_the_circuit_and_recovers() {
    let stack = Stack::start(
        Options::default()
            .with(Service::Router, "ROUTER_CIRCUIT_FAILURES", "3")
            .with(Service::Router, "ROUTER_CIRCUIT_OPEN_MS", "1000"),
    )
    .await
    .unwrap();
    let client = stack.client();
    let user = client
        .register("load@example.com", "a long password")
        .await
        .unwrap();
    pay(&client, &user, "kill-1").await;

    const QUERY: &str =
        "{ me { email payments { edges { node { status } } } unreadNotificationCount } }";
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(&client, &user.access_token, QUERY, 4, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack.kill(Service::Payments).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let opened = stack
        .metric(
            Service::Router,
            "router_subgraph_errors_total{subgraph=\"payments\",kind=\"circuit_open\"",
        )
        .await;
    stack.spawn(Service::Payments).await.unwrap();
    // Recovery: the circuit lets a probe through after ROUTER_CIRCUIT_OPEN_MS and closes.
    let recovered = eventually("complete answers again", || async {
        let response = client
            .gql(QUERY, json!({}), Some(&user.access_token))
            .await
            .ok()?;
        response["errors"].is_null().then_some(response)
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let answers = collect(tasks).await;

    assert_eq!(
        recovered["data"]["me"]["payments"]["edges"][0]["node"]["status"],
        "COMPLETED"
    );
    assert!(
        opened > 0.0,
        "the circuit opened: {opened} fast failures counted"
    );
    // No 5xx and no failed request: every answer is a 200 with the user's email.
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["data"]["me"]["email"], "load@example.com", "{body}");
    }
    // While payments was down: partial data, payments null with SUBGRAPH_UNAVAILABLE and
    // the notifications part still there.
    let partial: Vec<&Value> = answers
        .iter()
        .map(|(_, body)| body)
        .filter(|body| !body["errors"].is_null())
        .collect();
    assert!(
        !partial.is_empty(),
        "some answers came while payments was down"
    );
    for body in partial {
        assert_eq!(error_code(body), "SUBGRAPH_UNAVAILABLE", "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["me"]), "{body}");
        assert!(body["data"]["me"]["payments"].is_null(), "{body}");
        assert!(
            body["data"]["me"]["unreadNotificationCount"].is_i64(),
            "{body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("127.0.0.1"),
            "no internal address leaks: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_away_the_limiter_follows_its_policy_and_notifications_retry() {
    let mut stack = Stack::start(
        Options::default()
            .with(
                Service::Notifications,
                "NOTIFICATIONS_RETRY_DELAYS_MS",
                "1000,2000,4000",
            )
            .with(Service::Notifications, "NOTIFICATIONS_MAX_ATTEMPTS", "8"),
    )
    .await
    .unwrap();
    let client = stack.client();
    let user = client
        .register("redis@example.com", "a long password")
        .await
        .unwrap();
    eventually("the welcome notification", || async {
        (notification_kinds(&client, &user).await.get("WELCOME") == Some(&1)).then_some(())
    })
    .await;

    stack.redis.disable();
    // Fail open (the default): the router serves what does not need Redis.
    let me = client
        .gql("{ me { email } }", json!({}), Some(&user.access_token))
        .await
        .unwrap();
    assert_eq!(me["data"]["me"]["email"], "redis@example.com", "{me}");
    // Notifications needs Redis: its part fails with a code, the rest still arrives.
    let partial = client
        .gql(
            "{ me { email unreadNotificationCount } }",
            json!({}),
            Some(&user.access_token),
        )
        .await
        .unwrap();
    assert_eq!(
        partial["data"]["me"]["email"], "redis@example.com",
        "{partial}"
    );
    assert!(
        partial["data"]["me"]["unreadNotificationCount"].is_null(),
        "{partial}"
    );
    assert!(
        partial["errors"][0]["extensions"]["code"].is_string(),
        "{partial}"
    );
    // An event that arrives now cannot be stored: it is retried, not lost.
    pay(&client, &user, "redis-1").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack.redis.enable();
    eventually("the payment notifications after Redis returned", || async {
        let kinds = notification_kinds(&client, &user).await;
        (kinds.get("PAYMENT_CREATED") == Some(&1) && kinds.get("PAYMENT_COMPLETED") == Some(&1))
            .then_some(())
    })
    .await;
    assert!(
        stack
            .metric(Service::Notifications, "events_consumed_total{")
            .await
            > 0.0,
        "the consumer reports its work"
    );

    // Fail closed: a router so configured rejects requests it cannot count.
    stack.kill(Service::Router).await;
    stack.set_env(Service::Router, "ROUTER_RATE_LIMIT_FAIL_OPEN", "false");
    stack.spawn(Service::Router).await.unwrap();
    stack.redis.disable();
    let response = client
        .http
        .post(&client.url)
        .bearer_auth(&user.access_token)
        .json(&json!({ "query": "{ me { email } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    stack.redis.enable();
    eventually("requests served again", || async {
        let me = client
            .gql("{ me { email } }", json!({}), Some(&user.access_token))
            .await
            .ok()?;
        me["errors"].is_null().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_auth_recovers_without_a_restart_of_its_own() {
    let stack = Stack::start(Options::default()).await.unwrap();
    let client = stack.client();
    let user = client
        .register("pg@example.com", "a long password")
        .await
        .unwrap();
    let auth_pid = stack.pid(Service::Auth);

    stack.postgres.disable();
    let login = |email: &'static str| {
        let client = client.clone();
        async move {
            client
                .gql(
                    "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                    json!({ "i": { "email": email, "password": "a long password" } }),
                    None,
                )
                .await
                .unwrap()
        }
    };
    let down = login("pg@example.com").await;
    let code = error_code(&down).to_owned();
    assert!(
        ["INTERNAL", "SERVICE_UNAVAILABLE"].contains(&code.as_str()),
        "{down}"
    );
    assert!(
        !down.to_string().contains("5432"),
        "no connection details leak: {down}"
    );
    // A token already issued still works where auth's database is not needed (the JWKS
    // is cached by the router and the subgraphs).
    let preferences = client
        .ok(
            "{ myNotificationPreferences { __typename } }",
            json!({}),
            Some(&user.access_token),
        )
        .await;
    assert!(preferences["myNotificationPreferences"].is_array());
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.postgres.enable();

    eventually("login works again", || async {
        let up = login("pg@example.com").await;
        up["data"]["login"]["accessToken"].is_string().then_some(())
    })
    .await;
    let me = client
        .ok("{ me { email } }", json!({}), Some(&user.access_token))
        .await;
    assert_eq!(me["me"]["email"], "pg@example.com");
    assert_eq!(stack.pid(Service::Auth), auth_pid, "auth was not restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_lets_in_flight_requests_finish_and_writes_nothing_half_way() {
    let stack = Stack::start(Options::default().with(
        Service::Payments,
        "PAYMENTS_PROCESSOR_LATENCY_MS",
        "1500",
    ))
    .await
    .unwrap();
    let client = stack.client();
    let user = client
        .register("term@example.com", "a long password")
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            client
                .create_payment(&user, 500 + i, &format!("term-{i}"))
                .await,
        );
    }
    let process = |id: String| {
        let (client, token) = (client.clone(), user.access_token.clone());
        tokio::spawn(async move {
            client
                .gql(
                    "mutation($id: ID!) { processPayment(id: $id) { id status } }",
                    json!({ "id": id }),
                    Some(&token),
                )
                .await
        })
    };

    // The payments service is told to stop while three payments are being processed.
    let in_flight: Vec<_> = ids[..3].iter().cloned().map(process).collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = stack.terminate(Service::Payments).await.unwrap();
    assert!(status.success(), "payments exited cleanly: {status}");
    for task in in_flight {
        let answer = task.await.unwrap().unwrap();
        assert_eq!(
            answer["data"]["processPayment"]["status"], "COMPLETED",
            "{answer}"
        );
    }
    stack.spawn(Service::Payments).await.unwrap();

    // The router is told to stop while the other three are in flight through it.
    let in_flight: Vec<_> = ids[3..].iter().cloned().map(process).collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = stack.terminate(Service::Router).await.unwrap();
    assert!(status.success(), "the router exited cleanly: {status}");
    for task in in_flight {
        let answer = task.await.unwrap().unwrap();
        assert_eq!(
            answer["data"]["processPayment"]["status"], "COMPLETED",
            "{answer}"
        );
    }
    stack.spawn(Service::Router).await.unwrap();

    // Nothing half-written: every payment completed once, each with its events, once.
    let data = client
        .ok(
            "{ me { payments(first: 20) { edges { node { status } } } } }",
            json!({}),
            Some(&user.access_token),
        )
        .await;
    let statuses: Vec<&str> = data["me"]["payments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["COMPLETED"; 6]);
    let expected = HashMap::from([
        ("WELCOME".to_owned(), 1),
        ("PAYMENT_CREATED".to_owned(), 6),
        ("PAYMENT_COMPLETED".to_owned(), 6),
    ]);
    eventually("every payment's notifications", || async {
        (notification_kinds(&client, &user).await == expected).then_some(())
    })
    .await;
    let payments_log = stack.log(Service::Payments);
    assert!(
        payments_log.contains("shutdown signal received"),
        "payments drained"
    );
}
