use std::{collections::HashSet, time::Duration};

use serde_json::json;
use service_kit::events::{UserDeleted, UserLogin, UserRegistered};

use crate::{
    contract,
    helpers::{Backend, Options, spawn_app, spawn_app_with},
};

contract!(account_events_are_published_with_their_payloads);

const WAIT: Duration = Duration::from_secs(10);

async fn account_events_are_published_with_their_payloads(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let session = app.register("events@example.com", "correct horse").await;
    let id: uuid::Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();

    let registered = app
        .next_event("user.registered", WAIT)
        .await
        .expect("user.registered");
    assert_eq!(registered.specversion, "1.0");
    assert_eq!(registered.source, "/auth");
    assert_eq!(registered.subject.as_deref(), Some(id.to_string().as_str()));
    let data: UserRegistered = registered.decode().unwrap();
    assert_eq!(data.user_id, id);
    assert_eq!(data.email, "events@example.com");
    assert_eq!(
        (data.first_name.as_str(), data.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    // The wire format uses the seed's camelCase names.
    for field in ["userId", "email", "firstName", "lastName", "timestamp"] {
        assert!(registered.data.get(field).is_some(), "missing {field}");
    }

    app.login("events@example.com", "correct horse").await;
    let login: UserLogin = app
        .next_event("user.login", WAIT)
        .await
        .expect("user.login")
        .decode()
        .unwrap();
    assert_eq!(login.user_id, id);

    app.graphql(
        "mutation($id: ID!) { deleteUser(id: $id) }",
        json!({ "id": id }),
        session["accessToken"].as_str(),
    )
    .await;
    let deleted: UserDeleted = app
        .next_event("user.deleted", WAIT)
        .await
        .expect("user.deleted")
        .decode()
        .unwrap();
    assert_eq!(deleted.user_id, id);
    assert_eq!(deleted.email, "events@example.com");
}

/// RabbitMQ unreachable while users register: registration still works (the events wait
/// in the outbox), and once the broker is back every event arrives exactly once.
#[tokio::test]
async fn events_written_while_the_broker_is_down_arrive_once_it_is_back() {
    let mut app = spawn_app_with(Options {
        backend: Backend::Real,
        broker_proxy: true,
    })
    .await;
    let proxy = app.proxy.take().unwrap();
    proxy.disable();
    let mut ids = HashSet::new();
    for i in 0..5 {
        let session = app
            .register(&format!("outage{i}@example.com"), "correct horse")
            .await;
        ids.insert(session["user"]["id"].as_str().unwrap().to_owned());
    }
    let during = app.events_within(Duration::from_secs(2)).await;
    assert!(
        during.is_empty(),
        "nothing can be published while the broker is cut off"
    );

    proxy.enable();
    let mut received = Vec::new();
    while received.len() < 5 {
        let event = app
            .next_event("user.registered", Duration::from_secs(20))
            .await
            .expect("every event arrives after the broker is back");
        received.push(event);
    }
    // Nothing more arrives: each event exactly once.
    received.extend(app.events_within(Duration::from_secs(2)).await);
    assert_eq!(received.len(), 5, "{received:?}");
    let event_ids: HashSet<_> = received.iter().map(|e| e.id).collect();
    assert_eq!(event_ids.len(), 5);
    let users: HashSet<String> = received
        .iter()
        .map(|e| e.decode::<UserRegistered>().unwrap().user_id.to_string())
        .collect();
    assert_eq!(users, ids);
    // Order is kept: the relay publishes oldest first.
    let emails: Vec<String> = received
        .iter()
        .map(|e| e.decode::<UserRegistered>().unwrap().email)
        .collect();
    let expected: Vec<String> = (0..5).map(|i| format!("outage{i}@example.com")).collect();
    assert_eq!(emails, expected);
}
