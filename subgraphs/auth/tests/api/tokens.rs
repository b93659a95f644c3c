use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;
use service_kit::{
    jwt::{Claims, JwtSettings, JwtVerifier, KeySource, Role},
    testing::{self, TestKeys},
};

use crate::{
    contract,
    helpers::{Backend, ME, TestApp, error_code, spawn_app},
};

contract!(
    forged_and_stale_tokens_are_unauthenticated,
    tokens_verify_against_the_served_jwks,
    validate_token_returns_the_verified_claims,
);

fn claims_for(user_id: &str, exp_offset: i64) -> Claims {
    let mut claims = testing::claims(user_id, "x@example.com", Role::Admin, exp_offset);
    claims.jti = "t".into();
    claims
}

async fn kid(app: &TestApp) -> String {
    let jwks: serde_json::Value = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
}

async fn forged_and_stale_tokens_are_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("t@example.com", "correct horse").await;
    let id = session["user"]["id"].as_str().unwrap();
    let kid = kid(&app).await;

    let expired = app.signing_key.sign_with_kid(&kid, &claims_for(id, -3600));
    let mut wrong_audience = claims_for(id, 600);
    wrong_audience.aud = "someone-else".into();
    let wrong_audience = app.signing_key.sign_with_kid(&kid, &wrong_audience);
    let other_key = TestKeys::generate("other");
    let wrong_key = other_key.sign_with_kid(&kid, &claims_for(id, 600));
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims_for(id, 600)).unwrap());
    let alg_none = format!(
        "{}.{body}.",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#))
    );
    let real = session["accessToken"].as_str().unwrap();
    let mut parts: Vec<&str> = real.split('.').collect();
    parts[1] = &body; // claims an ADMIN role the signature does not cover
    let tampered = parts.join(".");

    for (name, token) in [
        ("expired", expired.as_str()),
        ("wrong audience", wrong_audience.as_str()),
        ("wrong key", wrong_key.as_str()),
        ("alg none", alg_none.as_str()),
        ("tampered", tampered.as_str()),
        ("garbage", "not.a.token"),
    ] {
        let response = app.graphql(ME, json!({}), Some(token)).await;
        assert_eq!(
            error_code(&response),
            "UNAUTHENTICATED",
            "{name}: {response}"
        );
    }
    let missing = app.graphql(ME, json!({}), None).await;
    assert_eq!(error_code(&missing), "UNAUTHENTICATED");
    // A correctly signed token for the right audience works, proving the checks above
    // failed for the reason each case names.
    let good = app.signing_key.sign_with_kid(&kid, &claims_for(id, 600));
    let ok = app.graphql(ME, json!({}), Some(&good)).await;
    assert_eq!(ok["data"]["me"]["id"], id, "{ok}");
}

async fn tokens_verify_against_the_served_jwks(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("jwks@example.com", "correct horse").await;
    // This is how the router and the other subgraphs verify: JWKS fetched over HTTP.
    let verifier = JwtVerifier::new(
        KeySource::Url {
            url: format!("{}/.well-known/jwks.json", app.address),
            refresh_interval: Duration::from_secs(300),
        },
        JwtSettings::new("platform-auth", "platform"),
    );
    let claims = verifier
        .verify(session["accessToken"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.sub, session["user"]["id"].as_str().unwrap());
    assert_eq!(claims.role, Role::User);
    assert_eq!(claims.email, "jwks@example.com");
}

async fn validate_token_returns_the_verified_claims(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("claims@example.com", "correct horse").await;
    let response = app
        .graphql(
            "{ validateToken { userId email role issuer audience issuedAt expiresAt } }",
            json!({}),
            session["accessToken"].as_str(),
        )
        .await;
    let info = &response["data"]["validateToken"];
    assert_eq!(info["userId"], session["user"]["id"]);
    assert_eq!(info["role"], "USER");
    assert_eq!(info["issuer"], "platform-auth");
    assert_eq!(info["audience"], "platform");
    let issued = chrono::DateTime::parse_from_rfc3339(info["issuedAt"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(info["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!((expires - issued).num_seconds(), 900);
}
