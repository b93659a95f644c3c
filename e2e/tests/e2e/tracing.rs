//! OpenTelemetry export across the platform: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, every
//! service sends its spans over OTLP (HTTP/protobuf) to a receiver written here, and one
//! client request is one trace: the router's request, planning and subgraph fetches, and
//! below each fetch the subgraph's request, resolvers and storage calls.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use e2e::{Options, Service, Stack};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value::Value as AnyValue,
};
use prost::Message;
use serde_json::json;
use service_kit::testing::eventually;

/// One received span.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_id: String,
}

type Received = Arc<Mutex<Vec<Span>>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn receive(State(received): State<Received>, body: Bytes) -> &'static str {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return "";
    };
    let mut spans = received.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Span {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_id: hex(&span.parent_span_id),
                });
            }
        }
    }
    ""
}

/// A minimal OTLP/HTTP trace receiver; returns its base URL and what it received.
async fn otlp_receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_across_the_router_and_the_subgraphs() {
    let (endpoint, received) = otlp_receiver().await;
    let mut options = Options::default();
    for service in Service::ALL {
        options = options
            .with(service, "OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone())
            // Export within 100 ms instead of the default 5 s.
            .with(service, "OTEL_BSP_SCHEDULE_DELAY", "100");
    }
    let stack = Stack::start(options).await.unwrap();
    let client = stack.client();
    let user = client
        .register("traced@example.com", "correct horse battery")
        .await
        .unwrap();
    client.create_payment(&user, 500, "traced-1").await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response: serde_json::Value = reqwest::Client::new()
        .post(stack.url())
        .bearer_auth(&user.access_token)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({ "query": "{ me { email payments { edges { node { amount } } } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        response["data"]["me"]["payments"]["edges"][0]["node"]["amount"], 500,
        "{response}"
    );

    let spans = eventually("the trace's spans from every service", || {
        let received = received.clone();
        async move {
            let spans: Vec<Span> = received
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect();
            let from = |service: &str, name: &str| {
                spans.iter().any(|s| s.service == service && s.name == name)
            };
            (from("router", "graphql_request")
                && from("router", "subgraph_fetch")
                && from("auth", "http_request")
                && from("payments", "http_request")
                && from("payments", "mongodb.page")
                && from("auth", "postgres.me"))
            .then_some(spans)
        }
    })
    .await;

    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent = |s: &Span| by_id.get(s.parent_id.as_str()).copied();
    // The router's request continues the client's trace context.
    let request = spans
        .iter()
        .find(|s| s.service == "router" && s.name == "graphql_request")
        .unwrap();
    assert_eq!(request.parent_id, "00f067aa0ba902b7");
    // Each subgraph's request hangs below one of the router's fetches, which hangs below
    // the router's request.
    for service in ["auth", "payments"] {
        let served = spans
            .iter()
            .find(|s| s.service == service && s.name == "http_request")
            .unwrap();
        let fetch = parent(served).unwrap_or_else(|| panic!("{service}: no parent in {spans:#?}"));
        assert_eq!(
            (fetch.service.as_str(), fetch.name.as_str()),
            ("router", "subgraph_fetch")
        );
        let mut above = parent(fetch);
        while let Some(s) = above.filter(|s| s.span_id != request.span_id) {
            above = parent(s);
        }
        assert!(
            above.is_some(),
            "{service}'s fetch is not below the request"
        );
    }
    // Each storage call is inside its service's request, through its resolvers.
    for (service, name) in [("payments", "mongodb.page"), ("auth", "postgres.me")] {
        let mut above = spans
            .iter()
            .find(|s| s.service == service && s.name == name)
            .and_then(parent);
        let mut depth = 0;
        while let Some(s) = above.filter(|s| s.name != "http_request") {
            assert_eq!(s.service, service, "{spans:#?}");
            above = parent(s);
            depth += 1;
        }
        assert!(above.is_some() && depth >= 1, "{service}: {spans:#?}");
    }
    assert!(
        spans
            .iter()
            .any(|s| s.service == "router" && s.name == "query_planning")
            || spans
                .iter()
                .any(|s| s.service == "router" && s.name == "graphql_prepare"),
        "{spans:#?}"
    );
}
