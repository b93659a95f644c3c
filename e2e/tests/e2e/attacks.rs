//! Attacks through the router on the multi-process platform: forged and stolen tokens, an
//! authorization matrix over every query and mutation, login brute force, hostile
//! documents and bodies, and fields that must stay unreachable.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{Client, Options, Service, Stack};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use service_kit::testing::{error_code, eventually};

/// The claims of a real access token, to be altered.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(key: &EncodingKey, algorithm: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// `{ me { id } }` through the router as `token`: the HTTP status and the body.
async fn me_as(client: &Client, token: &str) -> (u16, Value) {
    let response = client
        .http
        .post(&client.url)
        .bearer_auth(token)
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_stolen_tokens_are_turned_away() {
    let stack = Stack::start(Options::default()).await.unwrap();
    let client = stack.client();
    let user = client
        .register("victim@example.com", "a long password")
        .await
        .unwrap();
    let other = client
        .register("other@example.com", "a long password")
        .await
        .unwrap();
    let (status, ok) = me_as(&client, &user.access_token).await;
    assert_eq!((status, &ok["data"]["me"]["id"]), (200, &json!(user.id)));

    // The operator's signing key and the published kid, as an attacker who stole the key
    // file would have them (and for tokens that are well signed but wrong in a claim).
    let pem = std::fs::read(stack.dir.join("auth-signing-key.pem")).unwrap();
    let key = EncodingKey::from_ed_pem(&pem).unwrap();
    let jwks: Value = reqwest::get(format!(
        "http://127.0.0.1:{}/.well-known/jwks.json",
        stack.port(Service::Auth)
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let claims = claims_of(&user.access_token);
    let now = chrono::Utc::now().timestamp();
    let with = |field: &str, value: Value| {
        let mut c = claims.clone();
        c[field] = value;
        c
    };
    // Sanity: a token we sign with the real key and unchanged claims is accepted, so each
    // rejection below is about the one thing changed.
    let (status, _) = me_as(&client, &sign(&key, Algorithm::EdDSA, &kid, &claims)).await;
    assert_eq!(status, 200);

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut tampered = user
        .access_token
        .split('.')
        .map(str::to_owned)
        .collect::<Vec<_>>();
    tampered[1] = URL_SAFE_NO_PAD.encode(with("sub", json!(other.id)).to_string());
    let attacks: Vec<(&str, String)> = vec![
        ("alg none", format!("{header_none}.{payload}.")),
        (
            "HS256 signed with the public key (JWKS x)",
            sign(
                &EncodingKey::from_secret(public_x.as_bytes()),
                Algorithm::HS256,
                &kid,
                &claims,
            ),
        ),
        (
            "HS256 signed with the public key (raw bytes)",
            sign(
                &EncodingKey::from_secret(&URL_SAFE_NO_PAD.decode(&public_x).unwrap()),
                Algorithm::HS256,
                &kid,
                &claims,
            ),
        ),
        (
            "expired",
            sign(
                &key,
                Algorithm::EdDSA,
                &kid,
                &with("exp", json!(now - 3600)),
            ),
        ),
        (
            "not yet valid",
            sign(
                &key,
                Algorithm::EdDSA,
                &kid,
                &with("nbf", json!(now + 3600)),
            ),
        ),
        (
            "wrong issuer",
            sign(&key, Algorithm::EdDSA, &kid, &with("iss", json!("evil"))),
        ),
        (
            "wrong audience",
            sign(&key, Algorithm::EdDSA, &kid, &with("aud", json!("other"))),
        ),
        (
            "unknown kid",
            sign(&key, Algorithm::EdDSA, "no-such-key", &claims),
        ),
        ("tampered payload (another user's id)", tampered.join(".")),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (name, token) in attacks {
        let (status, body) = me_as(&client, &token).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{name}: {body}");
        assert!(body["data"].is_null(), "{name}: {body}");
    }

    // Refresh token reuse: the second use fails and ends the whole session.
    let first = client
        .ok(
            "mutation($t: String!) { refresh(refreshToken: $t) { refreshToken } }",
            json!({ "t": user.refresh_token }),
            None,
        )
        .await;
    let next = first["refresh"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, token) in [("reused", &user.refresh_token), ("after reuse", &next)] {
        let again = client
            .gql(
                "mutation($t: String!) { refresh(refreshToken: $t) { accessToken } }",
                json!({ "t": token }),
                None,
            )
            .await
            .unwrap();
        assert_eq!(error_code(&again), "UNAUTHENTICATED", "{name}: {again}");
    }

    // A deleted user's token, still unexpired, reaches nothing: auth refuses it at once,
    // payments and notifications as soon as `user.deleted` reached them.
    client
        .ok(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": user.id }),
            Some(&user.access_token),
        )
        .await;
    let after = [
        "{ me { id } }",
        "mutation { createPayment(input: { amount: 100, currency: \"USD\", description: \"ghost\", idempotencyKey: \"ghost\" }) { id } }",
        "{ myNotificationPreferences { kind } }",
        "mutation { markAllNotificationsRead }",
    ];
    for query in after {
        eventually(&format!("{query} refused to a deleted user"), || async {
            let response = client
                .gql(query, json!({}), Some(&user.access_token))
                .await
                .ok()?;
            (response["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
                && response["data"].is_null())
            .then_some(())
        })
        .await;
    }
}

/// What a caller must get from an operation.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Data, no error.
    Allow,
    /// No data for the field, and this error code.
    Deny(&'static str),
    /// Null, no error: nothing of yours by that id.
    Null,
}

use Expect::{Allow, Deny, Null};

const UNAUTH: Expect = Deny("UNAUTHENTICATED");
/// What the router's `@authenticated` and `@requiresScopes` answer, before any subgraph
/// call (the subgraphs' own `UNAUTHENTICATED` and `FORBIDDEN` are their second line:
/// `every_subgraph_holds_the_routers_line`).
const DENIED: Expect = Deny("UNAUTHORIZED_FIELD_OR_TYPE");
const FORBID: Expect = Deny("FORBIDDEN");
const CALLERS: [&str; 4] = ["user A", "user B", "ADMIN", "anonymous"];

struct Case {
    field: &'static str,
    document: &'static str,
    /// Variables per caller (A, B, ADMIN, anonymous): each caller acts on its own fresh
    /// resource where an action consumes it.
    variables: [Value; 4],
    expect: [Expect; 4],
}

fn same(value: Value) -> [Value; 4] {
    [value.clone(), value.clone(), value.clone(), value]
}

/// The root query and mutation fields of the served schema, by introspection.
async fn root_fields(client: &Client, token: &str) -> Vec<String> {
    let data = client
        .ok(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
            Some(token),
        )
        .await;
    ["queryType", "mutationType"]
        .iter()
        .flat_map(|t| {
            data["__schema"][t]["fields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_and_mutation_against_the_authorization_matrix() {
    let stack = Stack::start(Options::default().with(
        Service::Router,
        "ROUTER_RATE_LIMIT_SENSITIVE_REQUESTS",
        "1000",
    ))
    .await
    .unwrap();
    let client = stack.client();
    let a = client
        .register("a@example.com", "a long password")
        .await
        .unwrap();
    let b = client
        .register("b@example.com", "a long password")
        .await
        .unwrap();
    let admin = stack
        .create_admin("admin@example.com", "an admin password")
        .await
        .unwrap();
    let tokens = [
        Some(a.access_token.as_str()),
        Some(b.access_token.as_str()),
        Some(admin.as_str()),
        None,
    ];

    // A's payment and notification, and fresh ones for the actions that consume them.
    let a_payment = client.create_payment(&a, 700, "a-main").await;
    let fresh = |action: &str| {
        let (client, a) = (client.clone(), a.clone());
        let action = action.to_owned();
        async move {
            let mut ids = Vec::new();
            for i in 0..4 {
                let id = client
                    .create_payment(&a, 700, &format!("{action}-{i}"))
                    .await;
                if action == "refund" {
                    client
                        .ok(
                            "mutation($id: ID!) { processPayment(id: $id) { status } }",
                            json!({ "id": id }),
                            Some(&a.access_token),
                        )
                        .await;
                }
                ids.push(json!({ "id": id }));
            }
            <[Value; 4]>::try_from(ids).unwrap()
        }
    };
    let (process, cancel, refund) = (
        fresh("process").await,
        fresh("cancel").await,
        fresh("refund").await,
    );
    let a_notification = eventually("A's welcome notification", || async {
        let data = client
            .ok(
                "{ me { notifications { edges { node { id } } } } }",
                json!({}),
                Some(&a.access_token),
            )
            .await;
        data["me"]["notifications"]["edges"][0]["node"]["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let mut victims = Vec::new();
    for i in 0..4 {
        let victim = client
            .register(&format!("victim{i}@example.com"), "a long password")
            .await
            .unwrap();
        victims.push(json!({ "id": victim.id }));
    }
    let victims = <[Value; 4]>::try_from(victims).unwrap();
    let standing = client
        .register("standing@example.com", "a long password")
        .await
        .unwrap();
    let registrations = std::array::from_fn(
        |i| json!({ "i": { "email": format!("new{i}@example.com"), "password": "a long password", "firstName": "N", "lastName": "U" } }),
    );

    let cases = vec![
        Case {
            field: "me",
            document: "{ me { id email } }",
            variables: same(json!({})),
            expect: [Allow, Allow, Allow, DENIED],
        },
        Case {
            field: "user",
            document: "query($id: ID!) { user(id: $id) { id email } }",
            variables: same(json!({ "id": a.id })),
            expect: [Allow, FORBID, Allow, DENIED],
        },
        Case {
            field: "user",
            document: "query($id: ID!) { user(id: $id) { id payments { edges { node { id } } } notifications { edges { node { id } } } unreadNotificationCount notificationPreferences { kind } } }",
            variables: same(json!({ "id": a.id })),
            expect: [Allow, FORBID, Allow, DENIED],
        },
        Case {
            field: "users",
            document: "{ users(first: 5) { edges { node { id } } } }",
            variables: same(json!({})),
            // Only the admin scope: refused at the router.
            expect: [DENIED, DENIED, Allow, DENIED],
        },
        Case {
            field: "validateToken",
            document: "{ validateToken { userId role } }",
            variables: same(json!({})),
            expect: [Allow, Allow, Allow, DENIED],
        },
        Case {
            field: "myNotificationPreferences",
            document: "{ myNotificationPreferences { kind email } }",
            variables: same(json!({})),
            expect: [Allow, Allow, Allow, DENIED],
        },
        Case {
            field: "notification",
            document: "query($id: ID!) { notification(id: $id) { id } }",
            variables: same(json!({ "id": a_notification })),
            expect: [Allow, Null, Null, DENIED],
        },
        Case {
            field: "payment",
            document: "query($id: ID!) { payment(id: $id) { id } }",
            variables: same(json!({ "id": a_payment })),
            expect: [Allow, FORBID, Allow, DENIED],
        },
        Case {
            field: "register",
            document: "mutation($i: RegisterInput!) { register(input: $i) { user { id } } }",
            variables: registrations,
            expect: [Allow, Allow, Allow, Allow],
        },
        Case {
            field: "login",
            document: "mutation { login(input: { email: \"b@example.com\", password: \"a long password\" }) { accessToken } }",
            variables: same(json!({})),
            expect: [Allow, Allow, Allow, Allow],
        },
        Case {
            field: "refresh",
            document: "mutation { refresh(refreshToken: \"not-a-refresh-token\") { accessToken } }",
            variables: same(json!({})),
            expect: [UNAUTH, UNAUTH, UNAUTH, UNAUTH],
        },
        Case {
            field: "logout",
            document: "mutation { logout(refreshToken: \"not-a-refresh-token\") }",
            variables: same(json!({})),
            expect: [Allow, Allow, Allow, Allow],
        },
        Case {
            field: "deleteUser",
            document: "mutation($id: ID!) { deleteUser(id: $id) }",
            variables: victims,
            expect: [FORBID, FORBID, Allow, DENIED],
        },
        Case {
            field: "deactivateUser",
            document: "mutation($id: ID!) { deactivateUser(id: $id) { id } }",
            variables: same(json!({ "id": standing.id })),
            // Only the admin scope: refused at the router.
            expect: [DENIED, DENIED, Allow, DENIED],
        },
        Case {
            field: "reactivateUser",
            document: "mutation($id: ID!) { reactivateUser(id: $id) { id } }",
            variables: same(json!({ "id": standing.id })),
            expect: [DENIED, DENIED, Allow, DENIED],
        },
        Case {
            field: "changeUserRole",
            document: "mutation($id: ID!) { changeUserRole(id: $id, role: USER) { id } }",
            variables: same(json!({ "id": standing.id })),
            expect: [DENIED, DENIED, Allow, DENIED],
        },
        Case {
            field: "markNotificationRead",
            document: "mutation($id: ID!) { markNotificationRead(id: $id) { id } }",
            variables: same(json!({ "id": a_notification })),
            expect: [Allow, Deny("NOT_FOUND"), Deny("NOT_FOUND"), DENIED],
        },
        Case {
            field: "markAllNotificationsRead",
            document: "mutation { markAllNotificationsRead }",
            variables: same(json!({})),
            expect: [Allow, Allow, Allow, DENIED],
        },
        Case {
            field: "updateNotificationPreferences",
            document: "mutation { updateNotificationPreferences(input: [{ kind: NEW_LOGIN, email: false }]) { kind email } }",
            variables: same(json!({})),
            expect: [Allow, Allow, Allow, DENIED],
        },
        Case {
            field: "createPayment",
            document: "mutation { createPayment(input: { amount: 100, currency: \"USD\", description: \"matrix\", idempotencyKey: \"matrix-create\" }) { id } }",
            variables: same(json!({})),
            expect: [Allow, Allow, Allow, DENIED],
        },
        Case {
            field: "processPayment",
            document: "mutation($id: ID!) { processPayment(id: $id) { status } }",
            variables: process,
            expect: [Allow, FORBID, Allow, DENIED],
        },
        Case {
            field: "cancelPayment",
            document: "mutation($id: ID!) { cancelPayment(id: $id) { status } }",
            variables: cancel,
            expect: [Allow, FORBID, Allow, DENIED],
        },
        Case {
            field: "refundPayment",
            document: "mutation($id: ID!) { refundPayment(id: $id) { status } }",
            variables: refund,
            expect: [Allow, FORBID, Allow, DENIED],
        },
    ];

    // Every query and mutation of the public schema has a row: a new field needs one.
    let fields = root_fields(&client, &a.access_token).await;
    assert!(fields.len() >= 22, "{fields:?}");
    for field in fields {
        assert!(
            cases.iter().any(|c| c.field == field),
            "no authorization row for {field}"
        );
    }

    let mut mismatches = Vec::new();
    for case in &cases {
        for (caller, ((token, variables), expect)) in CALLERS
            .iter()
            .zip(tokens.iter().zip(&case.variables).zip(case.expect))
        {
            let response = client
                .gql(case.document, variables.clone(), *token)
                .await
                .unwrap();
            let value = &response["data"][case.field];
            let code = response["errors"][0]["extensions"]["code"].as_str();
            let holds = match expect {
                Allow => response["errors"].is_null() && !value.is_null(),
                Null => response["errors"].is_null() && value.is_null(),
                Deny(expected) => code == Some(expected) && value.is_null(),
            };
            if !holds {
                mismatches.push(format!(
                    "{caller} × {}: expected {expect:?}, got {response}",
                    case.document
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// An ADMIN deactivates one account and demotes another: their unexpired tokens are
/// judged by the new standing behind the router: in auth at once, in payments once the
/// events (through the outbox and RabbitMQ) have arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_or_demoted_account_loses_its_power_everywhere() {
    let stack = Stack::start(Options::default()).await.unwrap();
    let client = stack.client();
    let user = client
        .register("deactivated@example.com", "a long password")
        .await
        .unwrap();
    let payment = client.create_payment(&user, 500, "standing").await;
    let admin = stack
        .create_admin("admin@example.com", "an admin password")
        .await
        .unwrap();
    let demoted = stack
        .create_admin("demoted@example.com", "an admin password")
        .await
        .unwrap();
    let demoted_id =
        client.ok("{ me { id } }", json!({}), Some(&demoted)).await["me"]["id"].clone();
    let code = |document: &'static str, variables: Value, token: String| {
        let client = client.clone();
        async move {
            let response = client.gql(document, variables, Some(&token)).await.unwrap();
            response["errors"][0]["extensions"]["code"]
                .as_str()
                .map(str::to_owned)
        }
    };
    let read_payment = "query($id: ID!) { payment(id: $id) { id } }";
    assert_eq!(
        code(read_payment, json!({ "id": payment }), demoted.clone()).await,
        None
    );

    client
        .ok(
            "mutation($id: ID!) { deactivateUser(id: $id) { isActive } }",
            json!({ "id": user.id }),
            Some(&admin),
        )
        .await;
    client
        .ok(
            "mutation($id: ID!) { changeUserRole(id: $id, role: USER) { role } }",
            json!({ "id": demoted_id }),
            Some(&admin),
        )
        .await;
    // Auth knows at once; payments and notifications once the events arrive.
    assert_eq!(
        code("{ me { id } }", json!({}), user.access_token.clone())
            .await
            .as_deref(),
        Some("UNAUTHENTICATED")
    );
    eventually("the deactivated account refused by payments", || async {
        (code(
            read_payment,
            json!({ "id": payment }),
            user.access_token.clone(),
        )
        .await
        .as_deref()
            == Some("UNAUTHENTICATED"))
        .then_some(())
    })
    .await;
    eventually("the demoted ADMIN refused another's payment", || async {
        (code(read_payment, json!({ "id": payment }), demoted.clone())
            .await
            .as_deref()
            == Some("FORBIDDEN"))
        .then_some(())
    })
    .await;
    let listed = code(
        "{ users(first: 1) { edges { node { id } } } }",
        json!({}),
        demoted.clone(),
    )
    .await;
    assert_eq!(
        listed.as_deref(),
        Some("FORBIDDEN"),
        "the token's admin scope is not enough"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_brute_force_is_rate_limited() {
    let stack = Stack::start(Options::default()).await.unwrap();
    let client = stack.client();
    client
        .register("target@example.com", "the right password")
        .await
        .unwrap();
    let mut answers = Vec::new();
    for attempt in 0..15 {
        let response = client
            .http
            .post(&client.url)
            .json(&json!({
                "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                "variables": { "i": { "email": "target@example.com", "password": format!("guess {attempt}") } },
            }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").is_some();
        let body: Value = response.json().await.unwrap();
        answers.push((status, error_code(&body).to_owned(), retry_after));
    }
    // Two lines of defence: auth throttles the account from this address after 5 free
    // failures and a sixth (200, RATE_LIMITED from auth), and the router's budget (10
    // sensitive requests a minute, the registration included) refuses the rest with 429.
    let limited = answers
        .iter()
        .position(|(s, _, _)| *s == 429)
        .expect("rate limited by the router");
    assert!(limited <= 10, "{answers:?}");
    assert!(
        answers[..6]
            .iter()
            .all(|(s, c, _)| *s == 200 && c == "UNAUTHENTICATED"),
        "{answers:?}"
    );
    assert!(
        answers[6..limited]
            .iter()
            .all(|(s, c, _)| *s == 200 && c == "RATE_LIMITED"),
        "auth's own throttle: {answers:?}"
    );
    assert!(
        answers[limited..]
            .iter()
            .all(|(s, c, r)| *s == 429 && c == "RATE_LIMITED" && *r),
        "{answers:?}"
    );
    // Even the right password waits now.
    let right = client
        .gql(
            "mutation { login(input: { email: \"target@example.com\", password: \"the right password\" }) { accessToken } }",
            json!({}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(error_code(&right), "RATE_LIMITED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_errors_and_never_a_5xx() {
    let stack = Stack::start(Options::default()).await.unwrap();
    let client = stack.client();
    let user = client
        .register("hostile@example.com", "a long password")
        .await
        .unwrap();

    let depth_bomb = format!(
        "{{ me {} id {} }}",
        "{ payments { edges { node { user ".repeat(20),
        "} } } }".repeat(20)
    );
    let alias_bomb = format!(
        "{{ {} }}",
        (0..500)
            .map(|i| format!("a{i}: me {{ id }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let fragment_cycle =
        "query { me { ...A } } fragment A on User { id ...B } fragment B on User { ...A }";
    let batch_bomb = Value::Array(vec![json!({ "query": "{ me { id } }" }); 500]);
    let directives_bomb = format!("{{ me {{ id {} }} }}", "@include(if: true) ".repeat(3000));

    enum Body {
        Json(Value),
        Raw(&'static str, String),
    }
    let cases: Vec<(&str, Body, &[&str])> = vec![
        (
            "depth bomb",
            Body::Json(json!({ "query": depth_bomb })),
            &["LIMIT_EXCEEDED"],
        ),
        (
            "alias bomb",
            Body::Json(json!({ "query": alias_bomb })),
            &["LIMIT_EXCEEDED"],
        ),
        (
            "fragment cycle",
            Body::Json(json!({ "query": fragment_cycle })),
            &["GRAPHQL_VALIDATION_FAILED"],
        ),
        (
            "directives bomb",
            Body::Json(json!({ "query": directives_bomb })),
            &["LIMIT_EXCEEDED", "GRAPHQL_PARSE_FAILED"],
        ),
        (
            "batch bomb",
            Body::Json(batch_bomb),
            &["LIMIT_EXCEEDED", "BAD_REQUEST"],
        ),
        (
            "malformed JSON",
            Body::Raw("application/json", "{\"query\": ".into()),
            &["BAD_REQUEST", "GRAPHQL_PARSE_FAILED"],
        ),
        (
            "JSON that is not a request",
            Body::Raw("application/json", "42".into()),
            &["BAD_REQUEST"],
        ),
        (
            "malformed GraphQL",
            Body::Json(json!({ "query": "{ me { id " })),
            &["GRAPHQL_PARSE_FAILED"],
        ),
        (
            "unknown field",
            Body::Json(json!({ "query": "{ me { passwordHash } }" })),
            &["GRAPHQL_VALIDATION_FAILED"],
        ),
        (
            "variables of the wrong type",
            Body::Json(
                json!({ "query": "query($id: ID!) { payment(id: $id) { id } }", "variables": { "id": { "$ne": null } } }),
            ),
            &["BAD_USER_INPUT"],
        ),
        (
            "text/plain (CSRF)",
            Body::Raw("text/plain", r#"{"query":"{ me { id } }"}"#.into()),
            &["UNSUPPORTED_MEDIA_TYPE", "BAD_REQUEST"],
        ),
        (
            "form post (CSRF)",
            Body::Raw(
                "application/x-www-form-urlencoded",
                "query=%7B+me+%7B+id+%7D+%7D".into(),
            ),
            &["UNSUPPORTED_MEDIA_TYPE", "BAD_REQUEST"],
        ),
        (
            "XML",
            Body::Raw("application/xml", "<query>me</query>".into()),
            &["UNSUPPORTED_MEDIA_TYPE", "BAD_REQUEST"],
        ),
        (
            "federation internals: _entities",
            Body::Json(
                json!({ "query": "{ _entities(representations: [{ __typename: \"User\", id: \"x\" }]) { __typename } }" }),
            ),
            &["GRAPHQL_VALIDATION_FAILED"],
        ),
        (
            "federation internals: _service",
            Body::Json(json!({ "query": "{ _service { sdl } }" })),
            &["GRAPHQL_VALIDATION_FAILED"],
        ),
    ];
    for (name, body, codes) in cases {
        let request = client
            .http
            .post(&client.url)
            .bearer_auth(&user.access_token);
        let request = match body {
            Body::Json(value) => request.json(&value),
            Body::Raw(content_type, text) => {
                request.header("content-type", content_type).body(text)
            }
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(status < 500, "{name}: {status} {text}");
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: not JSON: {text}"));
        let code = match &body {
            Value::Array(items) => error_code(&items[0]).to_owned(),
            _ => error_code(&body).to_owned(),
        };
        assert!(
            codes.contains(&code.as_str()),
            "{name}: {code} not in {codes:?}: {}",
            &text[..text.len().min(500)]
        );
        for secret in ["$argon2", "127.0.0.1", "panicked", "sqlx", "backtrace"] {
            assert!(
                !text.to_lowercase().contains(secret),
                "{name} leaks {secret}: {text}"
            );
        }
    }
    // A 10 MB body is refused from its Content-Length, before the router reads it: the
    // answer comes while the client has sent only the first 64 KiB.
    let answer = ten_megabyte_upload(stack.port(Service::Router), &user.access_token).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\""), "{answer}");
    // A mutation over GET is refused (no CSRF through a link).
    let get = client
        .http
        .get(format!(
            "{}?query=mutation%20%7B%20markAllNotificationsRead%20%7D",
            client.url
        ))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    // No field of the public schema exposes a secret, and introspection shows none.
    let user_type = client
        .ok(
            "{ __type(name: \"User\") { fields { name } } }",
            json!({}),
            Some(&user.access_token),
        )
        .await;
    let names: Vec<&str> = user_type["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"email"), "{names:?}");
    for name in &names {
        assert!(
            !name.to_lowercase().contains("password") && !name.to_lowercase().contains("hash"),
            "{name}"
        );
    }
    let schema = client
        .ok(
            "{ __schema { types { name } } }",
            json!({}),
            Some(&user.access_token),
        )
        .await
        .to_string();
    assert!(
        !schema.contains("join__") && !schema.contains("_Service") && !schema.contains("_Any"),
        "{schema}"
    );
    // The services are still up and serving.
    let me = client
        .ok("{ me { email } }", json!({}), Some(&user.access_token))
        .await;
    assert_eq!(me["me"]["email"], "hostile@example.com");
}

/// Sends the headers of a 10 MB JSON POST and its first 64 KiB, then reads the answer.
async fn ten_megabyte_upload(port: u16, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         authorization: Bearer {token}\r\ncontent-length: {}\r\n\r\n",
        10 * 1024 * 1024
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&[b' '; 64 * 1024]).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("the router answered before the body was sent")
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

/// The router's line, drawn again at each subgraph for a client that reaches one directly:
/// operation limits, `_entities` bombs, content negotiation, malformed bodies and methods,
/// each a GraphQL error with a code and no internal detail, and the subgraph still serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subgraph_holds_the_routers_line() {
    let stack = Stack::start(Options::default()).await.unwrap();
    let user = stack
        .client()
        .register("direct@example.com", "a long password")
        .await
        .unwrap();
    let alias_bomb = format!(
        "{{ {} }}",
        (0..30_000)
            .map(|i| format!("a{i}: __typename"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let root_field_bomb = format!("{{ {} }}", "__typename ".repeat(100));
    let depth_bomb = format!(
        "{{ __schema {{ types {{ fields {{ type {} name {} }} }} }} }}",
        "{ ofType ".repeat(40),
        "}".repeat(40)
    );
    let representations: Vec<Value> = (0..8_000)
        .map(|i| json!({ "__typename": "User", "id": format!("{i}") }))
        .collect();
    let entities_bomb = json!({
        "query": "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
        "variables": { "r": representations },
    });

    enum Body {
        Json(Value),
        Raw(&'static str, Vec<u8>),
    }
    let cases: Vec<(&str, Body, u16, &str)> = vec![
        ("30,000 aliases", Body::Json(json!({ "query": alias_bomb })), 200, "LIMIT_EXCEEDED"),
        ("100 root fields", Body::Json(json!({ "query": root_field_bomb })), 200, "LIMIT_EXCEEDED"),
        ("depth 44", Body::Json(json!({ "query": depth_bomb })), 200, "LIMIT_EXCEEDED"),
        ("8,000 representations", Body::Json(entities_bomb), 200, "LIMIT_EXCEEDED"),
        ("null", Body::Raw("application/json", b"null".to_vec()), 400, "BAD_REQUEST"),
        ("42", Body::Raw("application/json", b"42".to_vec()), 400, "BAD_REQUEST"),
        (
            "a query that is a number",
            Body::Raw("application/json", br#"{"query":123}"#.to_vec()),
            400,
            "BAD_REQUEST",
        ),
        (
            "invalid UTF-8",
            Body::Raw("application/json", b"{\"query\":\"\xff\xfe\"}".to_vec()),
            400,
            "BAD_REQUEST",
        ),
        (
            "a batch",
            Body::Json(json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }])),
            400,
            "BAD_REQUEST",
        ),
        (
            "text/plain (CSRF)",
            Body::Raw("text/plain", br#"{"query":"{ __typename }"}"#.to_vec()),
            415,
            "BAD_REQUEST",
        ),
        (
            "form post (CSRF)",
            Body::Raw("application/x-www-form-urlencoded", b"query=%7B__typename%7D".to_vec()),
            415,
            "BAD_REQUEST",
        ),
        (
            "multipart",
            Body::Raw(
                "multipart/form-data; boundary=x",
                b"--x\r\ncontent-disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--x--\r\n".to_vec(),
            ),
            415,
            "BAD_REQUEST",
        ),
        ("malformed GraphQL", Body::Json(json!({ "query": "{ __typename " })), 200, "GRAPHQL_PARSE_FAILED"),
    ];
    let http = reqwest::Client::new();
    for service in [Service::Auth, Service::Payments, Service::Notifications] {
        let url = format!("http://127.0.0.1:{}/graphql", stack.port(service));
        for (name, body, status, code) in &cases {
            let request = http.post(&url).bearer_auth(&user.access_token);
            let request = match body {
                Body::Json(value) => request.json(value),
                Body::Raw(content_type, bytes) => request
                    .header("content-type", *content_type)
                    .body(bytes.clone()),
            };
            let response = request.send().await.unwrap();
            let what = format!("{} {name}", service.name());
            assert_eq!(response.status().as_u16(), *status, "{what}");
            let text = response.text().await.unwrap();
            let body: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
            assert_eq!(error_code(&body), *code, "{what}: {text}");
            assert!(body["data"].is_null(), "{what} executed: {text}");
            for internal in ["Request", "untagged", "Error(", "panicked", "MissingSlash"] {
                assert!(!text.contains(internal), "{what} leaks {internal}: {text}");
            }
        }
        // Too large, refused from its Content-Length; a GET is not an operation here.
        let answer = ten_megabyte_upload(stack.port(service), &user.access_token).await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{}: {answer}",
            service.name()
        );
        assert!(
            answer.contains("LIMIT_EXCEEDED"),
            "{}: {answer}",
            service.name()
        );
        let get = http
            .get(format!("{url}?query=%7B__typename%7D"))
            .send()
            .await
            .unwrap();
        let status = get.status().as_u16();
        assert!(
            [400, 405].contains(&status),
            "{}: GET {status}",
            service.name()
        );
        let body: Value = get.json().await.unwrap();
        assert_eq!(error_code(&body), "BAD_REQUEST", "{}: GET", service.name());
        // Still serving.
        let ok: Value = http
            .post(&url)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ok["data"]["__typename"], "Query", "{}", service.name());
    }
}

/// Auth throttles sign-ins on its own, per account and client address: guesses sent
/// straight to auth are stopped after five, and the owner, whom the router names by the
/// address its load balancer reports, still signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_throttles_guesses_sent_past_the_router_without_locking_the_owner_out() {
    // The test plays the load balancer in front of the router.
    let stack = Stack::start(Options::default().with(
        Service::Router,
        "ROUTER_TRUSTED_PROXIES",
        "127.0.0.1",
    ))
    .await
    .unwrap();
    let client = stack.client();
    client
        .register("owner@example.com", "the right password")
        .await
        .unwrap();
    let auth = e2e::Client::new(format!(
        "http://127.0.0.1:{}/graphql",
        stack.port(Service::Auth)
    ));
    let login = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }";
    let mut codes = Vec::new();
    for guess in 0..8 {
        let answer = auth
            .gql(
                login,
                json!({ "i": { "email": "owner@example.com", "password": format!("guess {guess}") } }),
                None,
            )
            .await
            .unwrap();
        codes.push(error_code(&answer).to_owned());
    }
    assert_eq!(codes[..6], ["UNAUTHENTICATED"; 6], "{codes:?}");
    assert_eq!(codes[6..], ["RATE_LIMITED"; 2], "{codes:?}");
    let owner: Value = client
        .http
        .post(&client.url)
        .header("x-forwarded-for", "198.51.100.2")
        .json(&json!({ "query": login, "variables": { "i": { "email": "owner@example.com", "password": "the right password" } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(owner["data"]["login"]["accessToken"].is_string(), "{owner}");
}
