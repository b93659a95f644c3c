//! Clients of the router, as an application would use it: GraphQL over HTTP and
//! `graphql-transport-ws` subscriptions.

use std::time::Duration;

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

/// GraphQL over HTTP against one endpoint.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl Client {
    pub fn new(url: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("build an HTTP client");
        Self { http, url }
    }

    /// The response body of one operation, whatever its status.
    pub async fn gql(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let body = response.text().await?;
        serde_json::from_str(&body).with_context(|| format!("HTTP {status}: {body}"))
    }

    /// `data` of an operation that must succeed.
    pub async fn ok(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let response = self
            .gql(query, variables, token)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e:#}"));
        assert!(response["errors"].is_null(), "{query}: {response}");
        response["data"].clone()
    }

    /// Creates a PENDING payment of `owner` in USD and returns its id.
    pub async fn create_payment(&self, owner: &Session, amount: i64, key: &str) -> String {
        let created = self
            .ok(
                "mutation($i: CreatePaymentInput!) { createPayment(input: $i) { id } }",
                json!({ "i": { "amount": amount, "currency": "USD", "description": "e2e", "idempotencyKey": key } }),
                Some(&owner.access_token),
            )
            .await;
        created["createPayment"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createPayment: {created}"))
            .to_owned()
    }

    /// Registers `email` and returns its session.
    pub async fn register(&self, email: &str, password: &str) -> anyhow::Result<Session> {
        let response = self
            .gql(
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken refreshToken user { id } } }",
                json!({ "i": { "email": email, "password": password, "firstName": "E", "lastName": "Two" } }),
                None,
            )
            .await?;
        let payload = &response["data"]["register"];
        let field = |v: &Value| -> anyhow::Result<String> {
            v.as_str()
                .map(str::to_owned)
                .with_context(|| format!("register {email}: {response}"))
        };
        Ok(Session {
            id: field(&payload["user"]["id"])?,
            email: email.to_owned(),
            password: password.to_owned(),
            access_token: field(&payload["accessToken"])?,
            refresh_token: field(&payload["refreshToken"])?,
        })
    }
}

/// A `graphql-transport-ws` subscription through the router: every `next` payload arrives
/// on the returned channel; the channel closes when the socket does.
pub async fn subscribe(
    ws_url: &str,
    token: &str,
    query: &str,
) -> anyhow::Result<mpsc::UnboundedReceiver<Value>> {
    let mut request = ws_url.into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::text(init.to_string())).await?;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .context("no connection_ack")?
            .context("socket closed before connection_ack")??;
        let value: Value = serde_json::from_str(message.to_text()?)?;
        match value["type"].as_str() {
            Some("connection_ack") => break,
            Some("ping") => ws.send(Message::text(r#"{"type":"pong"}"#)).await?,
            _ => bail!("expected connection_ack, got {value}"),
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    ws.send(Message::text(subscribe.to_string())).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Ok(text) = message.to_text() else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            match value["type"].as_str() {
                Some("next") if tx.send(value["payload"].clone()).is_err() => break,
                Some("ping") => {
                    let _ = ws.send(Message::text(r#"{"type":"pong"}"#)).await;
                }
                Some("complete") | Some("error") => break,
                _ => {}
            }
        }
    });
    Ok(rx)
}
