//! Events in, notifications and emails out: every event type, duplicates, poison messages,
//! the rate limit and preferences.

use futures::StreamExt;
use lapin::{
    BasicProperties,
    options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions},
    types::{AMQPValue, FieldTable},
};
use serde_json::json;
use service_kit::events::{
    PaymentCancelled, PaymentCompleted, PaymentCreated, PaymentData, PaymentFailed,
    PaymentRefunded, UserDeleted, UserLogin, rabbitmq,
};
use service_kit::testing::{eventually, servers};
use uuid::Uuid;

use crate::{
    contract,
    helpers::{Backend, Options, payment, registered, spawn_app, spawn_app_with},
    tokens,
};

contract!(
    every_event_type_makes_its_notification_and_email,
    the_same_event_twice_makes_one_notification_and_one_email,
    a_bad_event_does_not_stop_the_next_good_one,
    over_the_rate_limit_the_email_is_skipped_but_the_notification_stored,
    email_preferences_are_honoured_per_kind,
    a_changed_template_file_is_used_for_the_next_email,
    a_deactivated_or_demoted_accounts_tokens_follow_its_standing,
    a_payment_email_reaches_a_payer_no_account_event_announced,
);

/// Payment events carry the payer's address (contract 1.1): the receipt goes out even
/// when no `user.registered` ever reached notifications.
async fn a_payment_email_reaches_a_payer_no_account_event_announced(backend: Backend) {
    let app = spawn_app(backend).await;
    let fx = &app.fixture;
    let user = Uuid::now_v7();
    let address = format!("payer-{user}@example.com");
    fx.publish(&PaymentCreated(PaymentData {
        email: Some(address.clone()),
        ..payment(user, 2500, "PENDING")
    }))
    .await;
    let mails = fx.mails_to(&address, 1).await;
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(
        app.wait_for_notifications(user, 1).await,
        ["PAYMENT_CREATED"]
    );
}

/// The code of the first error of reading `user`'s notifications with `token`.
async fn read_code(app: &crate::helpers::TestApp, user: Uuid, token: &str) -> Option<String> {
    let query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { unreadNotificationCount } } }";
    let reps = serde_json::json!({ "reps": [{ "__typename": "User", "id": user }] });
    let response = app.graphql(query, reps, Some(token)).await;
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_owned)
}

async fn a_deactivated_or_demoted_accounts_tokens_follow_its_standing(backend: Backend) {
    use service_kit::{
        accounts::{Standing, StandingChange},
        jwt::Role,
        testing::standing_event,
    };
    let app = spawn_app(backend).await;
    let fx = &app.fixture;
    let (user, admin) = (Uuid::now_v7(), Uuid::now_v7());
    let user_token = tokens::token_for(&app.keys, user);
    let admin_token = app.keys.sign(&tokens::claims(admin, Role::Admin, 300));
    assert_eq!(read_code(&app, user, &admin_token).await, None);
    let publish = |user_id, standing| async move {
        let event = standing_event(&StandingChange {
            user_id,
            standing,
            as_of: chrono::Utc::now(),
        });
        fx.publish_envelope(&event).await;
    };

    publish(admin, Standing::Active { role: Role::User }).await;
    eventually(
        "the demoted ADMIN to be refused another's notifications",
        || async {
            (read_code(&app, user, &admin_token).await.as_deref() == Some("FORBIDDEN"))
                .then_some(())
        },
    )
    .await;
    assert_eq!(read_code(&app, user, &user_token).await, None);
    publish(user, Standing::Deactivated).await;
    eventually("the deactivated account's token to be refused", || async {
        (read_code(&app, user, &user_token).await.as_deref() == Some("UNAUTHENTICATED"))
            .then_some(())
    })
    .await;
    // Standing events notify nobody.
    let other_admin = app
        .keys
        .sign(&tokens::claims(Uuid::now_v7(), Role::Admin, 300));
    let page = app.notifications_of(user, &other_admin, "").await;
    assert_eq!(page["notifications"]["edges"], json!([]));
}

async fn every_event_type_makes_its_notification_and_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let fx = &app.fixture;
    let user = Uuid::new_v4();
    let address = format!("ada-{}@example.com", user.simple());
    fx.publish(&registered(user, &address, "Ada")).await;
    assert_eq!(app.wait_for_notifications(user, 1).await, ["WELCOME"]);

    fx.publish(&UserLogin {
        user_id: user,
        email: address.clone(),
        timestamp: chrono::Utc::now(),
    })
    .await;
    app.wait_for_notifications(user, 2).await;
    fx.publish(&PaymentCreated(payment(user, 1999, "PENDING")))
        .await;
    app.wait_for_notifications(user, 3).await;
    fx.publish(&PaymentCompleted(payment(user, 1999, "COMPLETED")))
        .await;
    app.wait_for_notifications(user, 4).await;
    let mut failed = payment(user, 500, "FAILED");
    failed.failure_reason = Some("card declined".into());
    fx.publish(&PaymentFailed(failed)).await;
    app.wait_for_notifications(user, 5).await;
    fx.publish(&PaymentCancelled(payment(user, 250, "CANCELLED")))
        .await;
    app.wait_for_notifications(user, 6).await;
    let refunded = payment(user, 1234, "REFUNDED");
    let refund_id = refunded.payment_id;
    fx.publish(&PaymentRefunded(refunded)).await;
    let kinds = app.wait_for_notifications(user, 7).await;
    assert_eq!(
        kinds,
        [
            "PAYMENT_REFUNDED",
            "PAYMENT_CANCELLED",
            "PAYMENT_FAILED",
            "PAYMENT_COMPLETED",
            "PAYMENT_CREATED",
            "NEW_LOGIN",
            "WELCOME"
        ]
    );
    let token = tokens::token_for(&app.keys, user);
    let page = app.notifications_of(user, &token, "").await;
    let nodes: Vec<_> = page["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(nodes[2]["title"], "Payment failed");
    assert_eq!(
        nodes[2]["body"],
        "Your payment of 5.00 USD for \"Coffee beans\" was declined: card declined."
    );
    assert_eq!(
        nodes[0]["body"],
        "Your payment of 12.34 USD for \"Coffee beans\" was refunded."
    );
    assert!(nodes.iter().all(|n| n["read"] == false));
    assert_eq!(page["unreadNotificationCount"], 7);

    let mails = fx.mails_to(&address, 7).await;
    let subject_of = |needle: &str| {
        mails
            .iter()
            .find(|m| m["subject"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no email with subject {needle:?}: {mails:#?}"))
            .clone()
    };
    let welcome = subject_of("Welcome to the platform, Ada!");
    assert!(welcome["text"].as_str().unwrap().contains(&address));
    assert!(welcome["html"].as_str().unwrap().contains("Hello Ada,"));
    assert!(welcome["to"].as_str().unwrap().contains("Ada"));
    assert!(
        welcome["from"]
            .as_str()
            .unwrap()
            .contains("no-reply@platform.local")
    );
    let login = subject_of("New sign-in to your account");
    // The login event carries no name: the one from registration is remembered.
    assert!(login["text"].as_str().unwrap().starts_with("Hello Ada,"));
    subject_of("Payment of 19.99 USD created");
    subject_of("Payment of 19.99 USD completed");
    let failed = subject_of("Payment of 5.00 USD failed");
    assert!(
        failed["text"]
            .as_str()
            .unwrap()
            .contains("declined: card declined")
    );
    subject_of("Payment of 2.50 USD cancelled");
    let refund = subject_of("Payment of 12.34 USD refunded");
    assert!(
        refund["text"]
            .as_str()
            .unwrap()
            .contains(&refund_id.to_string())
    );
    assert!(
        refund["html"]
            .as_str()
            .unwrap()
            .contains(&refund_id.to_string())
    );

    // Deleting the account: a last email, and the notifications go with the account.
    fx.publish(&UserDeleted {
        user_id: user,
        email: address.clone(),
        timestamp: chrono::Utc::now(),
    })
    .await;
    let mails = fx.mails_to(&address, 8).await;
    assert!(
        mails
            .iter()
            .any(|m| m["subject"] == "Your account was deleted"),
        "{mails:#?}"
    );
    // The account's unexpired token is refused from now on, and an ADMIN finds nothing
    // kept about the account.
    let token = tokens::token_for(&app.keys, user);
    let query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { unreadNotificationCount } } }";
    let reps = serde_json::json!({ "reps": [{ "__typename": "User", "id": user }] });
    eventually("the deleted account's token to be refused", || async {
        let response = app.graphql(query, reps.clone(), Some(&token)).await;
        (response["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED").then_some(())
    })
    .await;
    let admin = app.keys.sign(&tokens::claims(
        Uuid::new_v4(),
        service_kit::jwt::Role::Admin,
        300,
    ));
    let page = app.notifications_of(user, &admin, "").await;
    assert_eq!(page["notifications"]["edges"], serde_json::json!([]));
}

async fn the_same_event_twice_makes_one_notification_and_one_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let fx = &app.fixture;
    let user = Uuid::new_v4();
    let address = format!("twice-{}@example.com", user.simple());
    let envelope = fx.publish(&registered(user, &address, "Twice")).await;
    fx.publish_envelope(&envelope).await;
    // The second delivery has been dealt with once its email step saw the first's email.
    eventually("the duplicate to be recognised", || async {
        let seen = app
            .metric(r#"notification_emails_total{kind="WELCOME",outcome="duplicate"}"#)
            .await;
        (seen >= 1.0).then_some(())
    })
    .await;
    assert_eq!(app.kinds_of(user).await, ["WELCOME"]);
    assert_eq!(fx.mails_to(&address, 1).await.len(), 1);
    let sent = app
        .metric(r#"notification_emails_total{kind="WELCOME",outcome="sent"}"#)
        .await;
    assert_eq!(sent, 1.0);
}

async fn a_bad_event_does_not_stop_the_next_good_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let fx = &app.fixture;
    let user = Uuid::new_v4();
    // A well-formed envelope whose data is not a payment: rejected, never retried.
    let mut bad =
        service_kit::events::Envelope::new("/test", &PaymentCreated(payment(user, 1, "PENDING")))
            .unwrap();
    bad.data = json!({ "userId": user, "amount": "a lot" });
    fx.publish_envelope(&bad).await;
    fx.publish(&PaymentCompleted(payment(user, 100, "COMPLETED")))
        .await;
    assert_eq!(
        app.wait_for_notifications(user, 1).await,
        ["PAYMENT_COMPLETED"]
    );
    let reason = match backend {
        Backend::Real => "rejected",
        Backend::Embedded => "failed",
    };
    let line = format!(
        r#"events_dead_lettered_total{{queue="{}",reason="{reason}"}}"#,
        fx.queue
    );
    eventually("the bad event to be dead-lettered", || async {
        (app.metric(&line).await >= 1.0).then_some(())
    })
    .await;
    assert_eq!(app.kinds_of(user).await, ["PAYMENT_COMPLETED"]);
}

async fn over_the_rate_limit_the_email_is_skipped_but_the_notification_stored(backend: Backend) {
    let mut options = Options::new(backend);
    options.email_rate_limit = 2;
    let app = spawn_app_with(options).await;
    let fx = &app.fixture;
    let user = Uuid::new_v4();
    let address = format!("busy-{}@example.com", user.simple());
    fx.publish(&registered(user, &address, "Busy")).await;
    app.wait_for_notifications(user, 1).await;
    for amount in [100, 200, 300] {
        fx.publish(&PaymentCreated(payment(user, amount, "PENDING")))
            .await;
    }
    assert_eq!(app.wait_for_notifications(user, 4).await.len(), 4);
    eventually("two emails over the limit", || async {
        let skipped = app
            .metric(r#"notification_emails_total{kind="PAYMENT_CREATED",outcome="rate_limited"}"#)
            .await;
        (skipped >= 2.0).then_some(())
    })
    .await;
    let mails = fx.mails_to(&address, 2).await;
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert_eq!(app.kinds_of(user).await.len(), 4);
}

async fn email_preferences_are_honoured_per_kind(backend: Backend) {
    let app = spawn_app(backend).await;
    let fx = &app.fixture;
    let user = Uuid::new_v4();
    let token = tokens::token_for(&app.keys, user);
    let address = format!("quiet-{}@example.com", user.simple());
    let response = app
        .graphql(
            "mutation($input: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $input) { kind email } }",
            json!({ "input": [{ "kind": "PAYMENT_FAILED", "email": false }] }),
            Some(&token),
        )
        .await;
    let prefs = response["data"]["updateNotificationPreferences"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"));
    assert_eq!(prefs.len(), 8);
    for pref in prefs {
        assert_eq!(pref["email"], pref["kind"] != "PAYMENT_FAILED", "{pref}");
    }
    fx.publish(&registered(user, &address, "Quiet")).await;
    app.wait_for_notifications(user, 1).await;
    fx.publish(&PaymentFailed(payment(user, 700, "FAILED")))
        .await;
    fx.publish(&PaymentCompleted(payment(user, 800, "COMPLETED")))
        .await;
    app.wait_for_notifications(user, 3).await;
    eventually("the failed payment's email to be skipped", || async {
        let off = app
            .metric(r#"notification_emails_total{kind="PAYMENT_FAILED",outcome="disabled"}"#)
            .await;
        (off >= 1.0).then_some(())
    })
    .await;
    let mails = fx.mails_to(&address, 2).await;
    let subjects: Vec<&str> = mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.contains(&"Payment of 8.00 USD completed"),
        "{subjects:?}"
    );
    assert!(
        !subjects.iter().any(|s| s.contains("failed")),
        "{subjects:?}"
    );

    let read_back = app
        .graphql(
            "{ myNotificationPreferences { kind email } }",
            json!({}),
            Some(&token),
        )
        .await;
    let failed = read_back["data"]["myNotificationPreferences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "PAYMENT_FAILED")
        .unwrap()
        .clone();
    assert_eq!(failed["email"], false);
}

/// The mail folder never refuses a message; the SMTP server does (451 once for `tempfail…`,
/// 550 always for `reject…`).
#[tokio::test]
async fn a_transient_smtp_failure_is_retried_and_a_permanent_one_is_not() {
    let app = spawn_app(Backend::Real).await;
    let fx = &app.fixture;
    let (flaky, refused) = (Uuid::new_v4(), Uuid::new_v4());
    let flaky_address = format!("tempfail-{}@example.com", flaky.simple());
    let refused_address = format!("reject-{}@example.com", refused.simple());
    fx.publish(&registered(flaky, &flaky_address, "Flaky"))
        .await;
    fx.publish(&registered(refused, &refused_address, "Refused"))
        .await;
    // The server answered 451 the first time: the retry delivered it.
    let mails = fx.mails_to(&flaky_address, 1).await;
    assert_eq!(mails.len(), 1);
    eventually("the refused email to be counted", || async {
        let failed = app
            .metric(r#"notification_emails_total{kind="WELCOME",outcome="failed"}"#)
            .await;
        (failed >= 1.0).then_some(())
    })
    .await;
    assert!(
        app.metric(r#"notification_emails_total{kind="WELCOME",outcome="retried"}"#)
            .await
            >= 1.0
    );
    // Both notifications are stored whatever the mail server said.
    assert_eq!(app.kinds_of(flaky).await, ["WELCOME"]);
    assert_eq!(app.kinds_of(refused).await, ["WELCOME"]);
    assert!(
        fx.mails()
            .await
            .iter()
            .all(|m| !m["to"].as_str().unwrap().contains(&refused_address))
    );
}

/// Bytes that are not an event at all go to the dead-letter queue, and the consumer goes on.
#[tokio::test]
async fn an_unparseable_message_is_dead_lettered_and_the_next_one_handled() {
    let app = spawn_app(Backend::Real).await;
    let fx = &app.fixture;
    let conn = rabbitmq::connect(&servers::amqp_url()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
        .basic_publish(
            fx.exchange.as_str().into(),
            "payment.created".into(),
            BasicPublishOptions::default(),
            b"{ this is not json",
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let user = Uuid::new_v4();
    fx.publish(&PaymentCreated(payment(user, 42, "PENDING")))
        .await;
    assert_eq!(
        app.wait_for_notifications(user, 1).await,
        ["PAYMENT_CREATED"]
    );

    let mut consumer = channel
        .basic_consume(
            format!("{}.dlq", fx.queue).as_str().into(),
            "dlq-reader".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let delivery = tokio::time::timeout(std::time::Duration::from_secs(20), consumer.next())
        .await
        .expect("a dead letter")
        .unwrap()
        .unwrap();
    assert_eq!(delivery.data, b"{ this is not json");
    let reason = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-dead-letter-reason").cloned());
    assert_eq!(
        reason,
        Some(AMQPValue::LongString("unparseable".into())),
        "{reason:?}"
    );
    delivery.ack(BasicAckOptions::default()).await.unwrap();
    let _ = conn.close(200, "bye".into()).await;
}

async fn a_changed_template_file_is_used_for_the_next_email(backend: Backend) {
    let mut options = Options::new(backend);
    options.own_templates = true;
    let app = spawn_app_with(options).await;
    let fx = &app.fixture;
    let first = Uuid::new_v4();
    let first_address = format!("first-{}@example.com", first.simple());
    fx.publish(&registered(first, &first_address, "First"))
        .await;
    let mails = fx.mails_to(&first_address, 1).await;
    assert_eq!(mails[0]["subject"], "Welcome to the platform, First!");
    let cached = app
        .service
        .store()
        .cached_template("welcome.txt")
        .await
        .unwrap()
        .expect("the template is cached in the store");
    assert!(cached.source.contains("Welcome to the platform"));

    let path = fx.templates_dir().join("welcome.txt");
    let changed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("Welcome to the platform,", "Glad you joined us,");
    std::fs::write(&path, changed).unwrap();

    let second = Uuid::new_v4();
    let second_address = format!("second-{}@example.com", second.simple());
    fx.publish(&registered(second, &second_address, "Second"))
        .await;
    let mails = fx.mails_to(&second_address, 1).await;
    assert_eq!(mails[0]["subject"], "Glad you joined us, Second!");
    let cached = app
        .service
        .store()
        .cached_template("welcome.txt")
        .await
        .unwrap()
        .unwrap();
    assert!(cached.source.contains("Glad you joined us"));
}

/// Redis unreachable while an event arrives: handling fails, is retried through the delay
/// queues, and succeeds once Redis is back; nothing is lost or stored twice.
#[tokio::test]
async fn an_event_that_arrives_while_redis_is_down_is_stored_once_it_is_back() {
    let mut options = Options::new(Backend::Real);
    options.redis_proxy = true;
    options.max_attempts = 50;
    let app = spawn_app_with(options).await;
    let fx = &app.fixture;
    let proxy = fx.redis_proxy.as_ref().unwrap();
    let user = Uuid::new_v4();
    let retries = format!(
        r#"events_consumed_total{{queue="{}",outcome="retry"}}"#,
        fx.queue
    );
    proxy.disable();
    fx.publish(&PaymentCreated(payment(user, 999, "PENDING")))
        .await;
    eventually("a failed attempt while Redis is down", || async {
        (app.metric(&retries).await >= 1.0).then_some(())
    })
    .await;
    proxy.enable();
    assert_eq!(
        app.wait_for_notifications(user, 1).await,
        ["PAYMENT_CREATED"]
    );
    let token = tokens::token_for(&app.keys, user);
    let page = app.notifications_of(user, &token, "").await;
    assert_eq!(page["unreadNotificationCount"], 1);
}

/// RabbitMQ drops an event no queue is bound to: the publisher declares the consumers'
/// queues, so an event published before notifications ever ran is waiting when it starts,
/// and is handled once.
#[tokio::test]
async fn an_event_published_before_the_service_ever_ran_arrives_once() {
    let options = Options::new(Backend::Real);
    let fx = crate::helpers::Fixture::new(&options).await;
    let user = Uuid::now_v7();
    let address = format!("{user}@example.com");
    fx.publish(&registered(user, &address, "Early")).await;

    let app = crate::helpers::spawn_instance(fx.clone(), &options, tokens::generate()).await;
    assert_eq!(app.wait_for_notifications(user, 1).await, ["WELCOME"]);
    let mails = fx.mails_to(&address, 1).await;
    assert_eq!(mails.len(), 1, "{mails:#?}");
    // Nothing more comes of it.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.kinds_of(user).await, ["WELCOME"]);
    assert_eq!(fx.mails_to(&address, 1).await.len(), 1);
}
