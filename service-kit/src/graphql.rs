//! The GraphQL conventions every subgraph follows: error codes, the identity of the caller,
//! and an extension that records metrics and makes sure every error carries a code.

use std::{sync::Arc, time::Instant};

use async_graphql::{
    Context, ErrorExtensionValues, ErrorExtensions, Response, ServerError, ServerResult,
    ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
        NextValidation,
    },
    parser::types::ExecutableDocument,
};
use uuid::Uuid;

use crate::{
    accounts::CurrentAccounts,
    jwt::{Claims, Role},
};

/// The `extensions.code` values clients can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    NotFound,
    Conflict,
    RateLimited,
    Internal,
    GraphqlParseFailed,
    GraphqlValidationFailed,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
        }
    }
}

/// An error a resolver returns. Its message is safe to show to clients; an `Internal`
/// error's cause is logged and replaced by a generic message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadUserInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::BadUserInput(_) => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::RateLimited(_) => ErrorCode::RateLimited,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    pub fn unauthenticated() -> Self {
        Self::Unauthenticated("authentication required".into())
    }

    pub fn forbidden() -> Self {
        Self::Forbidden("not allowed".into())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        if let ApiError::Internal(cause) = &error {
            // The cause stays in the logs; the client only learns that something failed.
            tracing::error!(error = format!("{cause:#}"), "internal error in a resolver");
        }
        let mut e = async_graphql::Error::new(error.to_string());
        e = e.extend_with(|_, ext| ext.set("code", code.as_str()));
        e
    }
}

/// Shorthand for resolver results.
pub type ApiResult<T> = Result<T, ApiError>;

/// The verified caller of a request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    pub claims: Claims,
}

impl Identity {
    pub fn from_claims(claims: Claims) -> Result<Self, crate::jwt::JwtError> {
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| crate::jwt::JwtError::Invalid)?;
        Ok(Self {
            user_id,
            email: claims.email.clone(),
            role: claims.role,
            claims,
        })
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Owner-or-admin: the authorization rule of every per-user field.
    pub fn may_access(&self, owner: Uuid) -> bool {
        self.user_id == owner || self.is_admin()
    }

    pub fn ensure_may_access(&self, owner: Uuid) -> ApiResult<()> {
        if self.may_access(owner) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// What the request said about its caller, put into the GraphQL context by the HTTP handler.
#[derive(Debug, Clone)]
pub enum RequestAuth {
    Anonymous,
    Authenticated(Identity),
    /// A token was sent but did not verify; the reason is safe to show.
    Invalid(String),
}

impl RequestAuth {
    /// From an `Authorization` header value (`Bearer <token>`).
    pub async fn from_header(verifier: &crate::jwt::JwtVerifier, header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Self::Anonymous;
        };
        let Some(token) = crate::jwt::bearer_token(header) else {
            return Self::Invalid("the Authorization header must be `Bearer <token>`".into());
        };
        match verifier.verify(token).await.and_then(Identity::from_claims) {
            Ok(identity) => Self::Authenticated(identity),
            Err(e) => {
                tracing::debug!(reason = %e, "rejected access token");
                Self::Invalid(e.client_message().into())
            }
        }
    }

    /// The caller as their account stands now ([`CurrentAccounts::check`]): a token stays
    /// well signed until it expires, but a deactivated or deleted account's must reach
    /// nothing, and a demoted ADMIN's acts as a USER. When the lookup fails the request
    /// goes on (logged): the token is genuine and short-lived, and refusing every caller
    /// while a store hiccups would be the larger harm.
    pub async fn current(self, accounts: Option<&CurrentAccounts>) -> Self {
        let Some(accounts) = accounts else {
            return self;
        };
        let mut identity = match self {
            Self::Authenticated(identity) => identity,
            other => return other,
        };
        match accounts.check(&mut identity).await {
            Ok(Ok(())) => Self::Authenticated(identity),
            Ok(Err(reason)) => Self::Invalid(reason.into()),
            Err(e) => {
                tracing::warn!(error = %e, "could not check the standing of the caller's account");
                Self::Authenticated(identity)
            }
        }
    }

    pub fn identity(&self) -> ApiResult<&Identity> {
        match self {
            Self::Authenticated(identity) => Ok(identity),
            Self::Anonymous => Err(ApiError::unauthenticated()),
            Self::Invalid(reason) => Err(ApiError::Unauthenticated(reason.clone())),
        }
    }
}

/// A header the operation itself carries in `extensions.headers` (any case). The router
/// multiplexes many clients' subscriptions over one websocket to a subgraph and sends each
/// operation's own headers there, since `connection_init` can speak for one caller only.
pub fn operation_header<'a>(request: &'a async_graphql::Request, name: &str) -> Option<&'a str> {
    let async_graphql::Value::Object(headers) = request.extensions.get("headers")? else {
        return None;
    };
    headers.iter().find_map(|(key, value)| match value {
        async_graphql::Value::String(v) if key.as_str().eq_ignore_ascii_case(name) => {
            Some(v.as_str())
        }
        _ => None,
    })
}

/// Identity per operation: an operation whose `extensions.headers` carry an
/// `Authorization` runs as that token's caller (verified here, like the HTTP header), in
/// place of its connection's. Without one the connection's identity stands.
pub struct OperationAuth {
    verifier: crate::jwt::JwtVerifier,
    accounts: Option<Arc<CurrentAccounts>>,
}

impl OperationAuth {
    pub fn new(verifier: crate::jwt::JwtVerifier, accounts: Option<Arc<CurrentAccounts>>) -> Self {
        Self { verifier, accounts }
    }
}

impl ExtensionFactory for OperationAuth {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationAuthExtension {
            verifier: self.verifier.clone(),
            accounts: self.accounts.clone(),
        })
    }
}

struct OperationAuthExtension {
    verifier: crate::jwt::JwtVerifier,
    accounts: Option<Arc<CurrentAccounts>>,
}

#[async_trait::async_trait]
impl Extension for OperationAuthExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        if let Some(header) = operation_header(&request, "authorization") {
            let auth = RequestAuth::from_header(&self.verifier, Some(header))
                .await
                .current(self.accounts.as_deref())
                .await;
            // Request data is looked up before the connection's.
            request.data.insert(auth);
        }
        next.run(ctx, request).await
    }
}

/// The caller's identity from a resolver's context, or `UNAUTHENTICATED`.
pub fn identity<'a>(ctx: &'a Context<'_>) -> ApiResult<&'a Identity> {
    match ctx.data_opt::<RequestAuth>() {
        Some(auth) => auth.identity(),
        None => Err(ApiError::unauthenticated()),
    }
}

/// Records `graphql_requests_total` and `graphql_request_duration_seconds` by service,
/// operation and outcome, and gives every error an `extensions.code`.
pub struct Observability {
    service: &'static str,
}

impl Observability {
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

impl ExtensionFactory for Observability {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObservabilityExtension {
            service: self.service,
            operation: std::sync::Mutex::new(None),
        })
    }
}

struct ObservabilityExtension {
    service: &'static str,
    operation: std::sync::Mutex<Option<String>>,
}

fn set_code(error: &mut ServerError, code: ErrorCode) {
    let ext = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if ext.get("code").is_none() {
        ext.set("code", code.as_str());
    }
}

fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some())
}

/// Operation names come from clients: keep the label set bounded in size and shape.
/// Every service and the router label their metrics and spans with it.
pub fn operation_label(name: Option<&str>) -> String {
    match name {
        Some(n)
            if !n.is_empty()
                && n.len() <= 64
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            n.to_owned()
        }
        Some(_) => "invalid".to_owned(),
        None => "anonymous".to_owned(),
    }
}

#[async_trait::async_trait]
impl Extension for ObservabilityExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            if !has_code(error) {
                // Our resolvers always set a code, and input is checked during validation.
                // A codeless error with a path is therefore a fault of ours: log it and tell
                // the client no more than that. Without a path it is a request-level problem
                // (e.g. an unknown operation name).
                if error.path.is_empty() {
                    set_code(error, ErrorCode::GraphqlValidationFailed);
                } else {
                    tracing::error!(service = self.service, error = %error.message, "resolver failed without an error code");
                    error.message = "internal error".into();
                    set_code(error, ErrorCode::Internal);
                }
            }
        }
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        let operation = operation_label(
            self.operation
                .lock()
                .ok()
                .and_then(|op| op.clone())
                .as_deref(),
        );
        let labels = [
            ("service", self.service.to_owned()),
            ("operation", operation),
            ("outcome", outcome.to_owned()),
        ];
        metrics::counter!("graphql_requests_total", &labels).increment(1);
        metrics::histogram!("graphql_request_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|mut e| {
            set_code(&mut e, ErrorCode::GraphqlParseFailed);
            e
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            for e in &mut errors {
                set_code(e, ErrorCode::GraphqlValidationFailed);
            }
            errors
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Ok(mut op) = self.operation.lock() {
            *op = operation_name.map(str::to_owned);
        }
        next.run(ctx, operation_name).await
    }
}

/// `builder` with a span per parse, validation, execution and resolver when spans are
/// exported (`OTEL_EXPORTER_OTLP_ENDPOINT`), and unchanged otherwise.
pub fn traced<Q, M, S>(
    builder: async_graphql::SchemaBuilder<Q, M, S>,
) -> async_graphql::SchemaBuilder<Q, M, S> {
    if crate::telemetry::otlp_enabled() {
        builder.extension(async_graphql::extensions::Tracing)
    } else {
        builder
    }
}
