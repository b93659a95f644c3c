//! JWT verification at the router: bad tokens are 401 `UNAUTHENTICATED` before planning,
//! good ones are forwarded to subgraphs with their claims.

use crate::common;

use common::{TestRouter, error_codes, shop_config, start_shop, tokens};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

async fn router_with_jwt(require: bool) -> (common::Shop, TestRouter, tokens::TestKeys) {
    let shop = start_shop().await;
    let keys = tokens::TestKeys::generate("k1");
    let mut config = shop_config(&shop);
    config.jwt = Some(router::config::JwtConfig {
        jwks_file: Some(tokens::jwks_file(&keys)),
        require_authentication: require,
        ..Default::default()
    });
    let router = TestRouter::start(config).await;
    (shop, router, keys)
}

const ECHO: &str = r#"{ auth: echoHeader(name: "authorization") claims: echoHeader(name: "x-jwt-claims") me { id } }"#;

async fn call(router: &TestRouter, token: Option<&str>, query: &str) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("authorization", b)])
        .unwrap_or_default();
    router.query_with(query, json!({}), &headers).await
}

#[tokio::test]
async fn a_valid_token_is_forwarded_with_its_claims() {
    let (_shop, router, keys) = router_with_jwt(false).await;
    let token = keys.sign(&tokens::claims(300, 0));
    let (status, body) = call(&router, Some(&token), ECHO).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["auth"], format!("Bearer {token}"));
    let claims: Value = serde_json::from_str(body["data"]["claims"].as_str().unwrap()).unwrap();
    assert_eq!(claims["sub"], "1");
    assert_eq!(claims["email"], "user1@example.com");
    assert_eq!(body["data"]["me"]["id"], "1");
}

#[tokio::test]
async fn no_token_passes_anonymously_unless_required() {
    let (_shop, router, _keys) = router_with_jwt(false).await;
    let (status, body) = call(&router, None, ECHO).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["auth"], Value::Null);
    assert_eq!(body["data"]["me"], Value::Null);

    let (_shop, router, _keys) = router_with_jwt(true).await;
    let (status, body) = call(&router, None, ECHO).await;
    assert_eq!(status, 401);
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn bad_tokens_are_rejected_before_planning() {
    let (_shop, router, keys) = router_with_jwt(false).await;
    let other = tokens::TestKeys::generate("k1");
    let now_claims = tokens::claims(300, 0);
    let mut wrong_issuer = now_claims.clone();
    wrong_issuer["iss"] = json!("someone-else");
    let mut wrong_audience = now_claims.clone();
    wrong_audience["aud"] = json!("elsewhere");
    let unknown_kid = {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("unknown".into());
        encode(&header, &now_claims, keys.encoding_key()).unwrap()
    };
    let hs256_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        encode(
            &header,
            &now_claims,
            &EncodingKey::from_secret(keys.public_x().as_bytes()),
        )
        .unwrap()
    };
    let alg_none = {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1","typ":"JWT"}"#);
        let b = URL_SAFE_NO_PAD.encode(now_claims.to_string());
        format!("{h}.{b}.")
    };
    let cases = [
        ("expired", keys.sign(&tokens::claims(-3600, -7200))),
        ("not yet valid", keys.sign(&tokens::claims(7200, 3600))),
        ("wrong issuer", keys.sign(&wrong_issuer)),
        ("wrong audience", keys.sign(&wrong_audience)),
        ("signed by another key", other.sign(&now_claims)),
        ("unknown kid", unknown_kid),
        ("HS256 with the public key", hs256_with_public_key),
        ("alg none", alg_none),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (case, token) in cases {
        // An invalid query too: authentication must fail first, with 401 not 400.
        let (status, body) = call(&router, Some(&token), "{ nope }").await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{case}");
    }
    let response = router
        .http
        .post(router.url("/graphql"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn keys_come_from_a_jwks_url_refreshed_on_an_unknown_kid() {
    let shop = start_shop().await;
    let old = tokens::TestKeys::generate("k-old");
    let new = tokens::TestKeys::generate("k-new");
    let served = std::sync::Arc::new(std::sync::Mutex::new(
        serde_json::to_value(old.jwks()).unwrap(),
    ));
    let jwks = served.clone();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.lock().unwrap().clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = shop_config(&shop);
    config.jwt = Some(router::config::JwtConfig {
        jwks_url: Some(format!("http://{addr}/.well-known/jwks.json")),
        ..Default::default()
    });
    let router = TestRouter::start(config).await;
    let token = old.sign(&tokens::claims(300, 0));
    let (status, body) = call(&router, Some(&token), ECHO).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["id"], "1");

    // Auth rotates its key: the JWKS now has both, and tokens come with the new kid.
    let mut both = old.jwks();
    both.keys.extend(new.jwks().keys);
    *served.lock().unwrap() = serde_json::to_value(&both).unwrap();
    // Re-fetches triggered by unknown kids are rate limited (5 s) against kid floods.
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let token = new.sign(&tokens::claims(300, 0));
    let (status, body) = call(&router, Some(&token), ECHO).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["id"], "1");
}

#[tokio::test]
async fn graphiql_stays_reachable_when_authentication_is_required() {
    let (_shop, router, _keys) = router_with_jwt(true).await;
    let page = router
        .http
        .get(router.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // But a query over GET still needs the token.
    let query = router
        .http
        .get(router.url("/graphql"))
        .header("accept", "text/html")
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 401);
}
