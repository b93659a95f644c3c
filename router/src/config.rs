//! The router's settings: built-in defaults, then an optional YAML file (`--config`), then
//! environment variables, each later source overriding the earlier one. Every setting has a
//! default, so the router runs with no file and no variables; a bad value names its variable
//! or its place in the file.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use serde::Deserialize;
use service_kit::{
    client_address::TrustedProxies,
    config::{ConfigError, Env},
};

/// Everything the router can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// Address to bind (`HOST`).
    pub host: String,
    /// Port to bind (`ROUTER_PORT`); 0 picks a free one.
    pub port: u16,
    pub supergraph: SupergraphConfig,
    /// Per-subgraph overrides, by the subgraph's name in the supergraph.
    pub subgraphs: BTreeMap<String, SubgraphConfig>,
    pub traffic: TrafficConfig,
    pub limits: LimitsConfig,
    pub plan_cache: PlanCacheConfig,
    /// Absent means no token verification: the router runs open.
    pub jwt: Option<JwtConfig>,
    pub rate_limit: RateLimitConfig,
    pub cors: CorsConfig,
    pub subscriptions: SubscriptionsConfig,
    /// Automatic persisted queries.
    pub apq: ApqConfig,
    /// The manifest of operations clients may send by id (a safelist in `enforce` mode).
    pub persisted_documents: PersistedDocumentsConfig,
    /// The supergraph's `@authenticated`, `@requiresScopes` and `@policy`.
    pub authorization: AuthorizationConfig,
    /// Static cost analysis (IBM's `@cost` and `@listSize`).
    pub demand_control: DemandControlConfig,
    /// Proxies in front of the router whose `X-Forwarded-For`/`Forwarded` name the client
    /// (`ROUTER_TRUSTED_PROXIES`, comma separated); none by default: the peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// Serve GraphiQL on `GET /` (`ROUTER_GRAPHIQL`).
    pub graphiql: bool,
    /// The operation GraphiQL opens with (`ROUTER_GRAPHIQL_EXAMPLE_FILE` names a file
    /// holding it); GraphiQL's own welcome text when absent.
    pub graphiql_example: Option<String>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 4000,
            supergraph: SupergraphConfig::default(),
            subgraphs: BTreeMap::new(),
            traffic: TrafficConfig::default(),
            limits: LimitsConfig::default(),
            plan_cache: PlanCacheConfig::default(),
            jwt: None,
            rate_limit: RateLimitConfig::default(),
            cors: CorsConfig::default(),
            subscriptions: SubscriptionsConfig::default(),
            apq: ApqConfig::default(),
            persisted_documents: PersistedDocumentsConfig::default(),
            authorization: AuthorizationConfig::default(),
            demand_control: DemandControlConfig::default(),
            trusted_proxies: TrustedProxies::default(),
            graphiql: true,
            graphiql_example: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupergraphConfig {
    /// `--supergraph` / `ROUTER_SUPERGRAPH`.
    pub path: PathBuf,
    /// Reload when the file changes (`ROUTER_SUPERGRAPH_WATCH`).
    pub watch: bool,
    /// How often the file is checked for changes (`ROUTER_SUPERGRAPH_POLL_MS`).
    pub poll_interval_ms: u64,
}

impl Default for SupergraphConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("schema/supergraph.graphql"),
            watch: true,
            poll_interval_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubgraphConfig {
    /// Replaces the routing URL from the supergraph (`ROUTER_SUBGRAPH_<NAME>_URL`).
    pub url: Option<String>,
    /// Websocket URL for subscriptions; derived from `url` (`http`→`ws`) when absent.
    pub websocket_url: Option<String>,
    /// Replaces `traffic.subgraph_timeout_ms` for this subgraph.
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrafficConfig {
    /// Per request to a subgraph (`ROUTER_SUBGRAPH_TIMEOUT_MS`).
    pub subgraph_timeout_ms: u64,
    /// Idle keep-alive connections kept per subgraph host.
    pub max_idle_per_host: usize,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout_ms: u64,
    pub circuit_breaker: CircuitBreakerConfig,
    pub dedupe: DedupeConfig,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            subgraph_timeout_ms: 30_000,
            max_idle_per_host: 64,
            pool_idle_timeout_ms: 90_000,
            circuit_breaker: CircuitBreakerConfig::default(),
            dedupe: DedupeConfig::default(),
        }
    }
}

/// In-flight deduplication of queries (never mutations or subscriptions): identical
/// requests that arrive while the first is still running share its answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DedupeConfig {
    /// Identical subgraph requests (same subgraph, body and forwarded headers but the trace
    /// context) share one HTTP request (`ROUTER_DEDUPE_SUBGRAPH_REQUESTS`).
    pub subgraph_requests: bool,
    /// Identical client operations (same document, operation name, variables and every
    /// header that reaches a subgraph, `Authorization` included) share one execution
    /// (`ROUTER_DEDUPE_CLIENT_REQUESTS`).
    pub client_requests: bool,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        Self {
            subgraph_requests: true,
            client_requests: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    pub enabled: bool,
    /// Consecutive failed requests that open the breaker (`ROUTER_CIRCUIT_FAILURES`).
    pub failure_threshold: u32,
    /// How long it stays open before one probe is let through (`ROUTER_CIRCUIT_OPEN_MS`).
    pub open_ms: u64,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: 5,
            open_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// `ROUTER_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// Deepest field nesting (`ROUTER_MAX_DEPTH`).
    pub max_depth: usize,
    /// Aliased fields in one operation (`ROUTER_MAX_ALIASES`).
    pub max_aliases: usize,
    /// Fields selected on the root type (`ROUTER_MAX_ROOT_FIELDS`).
    pub max_root_fields: usize,
    /// Lexer tokens in the document (`ROUTER_MAX_TOKENS`).
    pub max_tokens: usize,
    /// Whole request, planning and execution (`ROUTER_OPERATION_TIMEOUT_MS`).
    pub operation_timeout_ms: u64,
    /// Time allowed for planning one operation (`ROUTER_PLANNING_TIMEOUT_MS`).
    pub planning_timeout_ms: u64,
    /// Answer `__schema`/`__type` (`ROUTER_INTROSPECTION`).
    pub introspection: bool,
    /// Operations in one batched request (`ROUTER_MAX_BATCH_SIZE`).
    pub max_batch_size: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            max_depth: 32,
            max_aliases: 64,
            max_root_fields: 64,
            max_tokens: 15_000,
            operation_timeout_ms: 30_000,
            planning_timeout_ms: 5_000,
            introspection: true,
            max_batch_size: 16,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanCacheConfig {
    /// Prepared operations kept (`ROUTER_PLAN_CACHE_SIZE`).
    pub capacity: usize,
}

impl Default for PlanCacheConfig {
    fn default() -> Self {
        Self { capacity: 1024 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// JWKS endpoint (`ROUTER_JWKS_URL`); one of `jwks_url` and `jwks_file` is needed.
    pub jwks_url: Option<String>,
    /// JWKS file (`ROUTER_JWKS_FILE`).
    pub jwks_file: Option<PathBuf>,
    /// How often the JWKS URL is re-fetched (`ROUTER_JWKS_REFRESH_SECS`).
    pub refresh_interval_secs: u64,
    /// `JWT_ISSUER`.
    pub issuer: String,
    /// `JWT_AUDIENCE`.
    pub audience: String,
    /// Accepted algorithms (`ROUTER_JWT_ALGORITHMS`, comma separated).
    pub algorithms: Vec<String>,
    /// Clock skew tolerated (`ROUTER_JWT_LEEWAY_SECS`).
    pub leeway_secs: u64,
    /// Header carrying the token (`ROUTER_JWT_HEADER`).
    pub header: String,
    /// Scheme before the token (`ROUTER_JWT_PREFIX`); empty for a bare token.
    pub prefix: String,
    /// Reject requests without a token (`ROUTER_REQUIRE_AUTHENTICATION`).
    pub require_authentication: bool,
    /// Header the verified claims are forwarded in, as JSON (`ROUTER_JWT_CLAIMS_HEADER`);
    /// empty to forward none.
    pub forward_claims_header: String,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            jwks_url: None,
            jwks_file: None,
            refresh_interval_secs: 300,
            issuer: service_kit::jwt::DEFAULT_ISSUER.into(),
            audience: service_kit::jwt::DEFAULT_AUDIENCE.into(),
            algorithms: vec!["EdDSA".into(), "RS256".into(), "ES256".into()],
            leeway_secs: 30,
            header: "authorization".into(),
            prefix: "Bearer".into(),
            require_authentication: false,
            forward_claims_header: "x-jwt-claims".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub per_ip: Option<PerIpLimit>,
    pub per_user: Option<PerUserLimit>,
}

/// In-process token bucket per client IP.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerIpLimit {
    /// Sustained requests per second (`ROUTER_RATE_LIMIT_IP_PER_SECOND`).
    pub per_second: u64,
    /// Burst size (`ROUTER_RATE_LIMIT_IP_BURST`).
    pub burst: u32,
    /// Deprecated: `trusted_proxies` says whose forwarding headers to believe. `true`
    /// believes every peer's (only safe when every client comes through a proxy).
    pub trust_forwarded_headers: bool,
}

impl Default for PerIpLimit {
    fn default() -> Self {
        Self {
            per_second: 50,
            burst: 100,
            trust_forwarded_headers: false,
        }
    }
}

/// Fixed-window limit per authenticated user (or per IP for anonymous callers of the
/// sensitive operations), shared by every router instance through Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerUserLimit {
    /// `REDIS_URL`.
    pub redis_url: Option<String>,
    /// Requests per window for a user (`ROUTER_RATE_LIMIT_USER_REQUESTS`).
    pub requests: u64,
    /// Requests per window for operations that select a sensitive root field
    /// (`ROUTER_RATE_LIMIT_SENSITIVE_REQUESTS`).
    pub sensitive_requests: u64,
    /// Root fields with the stricter budget.
    pub sensitive_fields: Vec<String>,
    /// Window length (`ROUTER_RATE_LIMIT_WINDOW_SECS`).
    pub window_secs: u64,
    /// Let requests through when Redis is unreachable (`ROUTER_RATE_LIMIT_FAIL_OPEN`).
    pub fail_open: bool,
    /// Prefix of every Redis key (`ROUTER_RATE_LIMIT_PREFIX`).
    pub key_prefix: String,
}

impl Default for PerUserLimit {
    fn default() -> Self {
        Self {
            redis_url: None,
            requests: 600,
            sensitive_requests: 10,
            sensitive_fields: vec!["login".into(), "register".into()],
            window_secs: 60,
            fail_open: true,
            key_prefix: "router:ratelimit".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Allowed origins (`ROUTER_CORS_ORIGINS`, comma separated); empty means no CORS headers.
    pub allow_origins: Vec<String>,
    /// Any origin (`ROUTER_CORS_ALLOW_ANY`): for local development only.
    pub allow_any_origin: bool,
    pub allow_credentials: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriptionsConfig {
    /// Seconds between pings to clients (`ROUTER_WS_KEEPALIVE_SECS`).
    pub keepalive_secs: u64,
    /// Time a client has to send `connection_init` (`ROUTER_WS_INIT_TIMEOUT_SECS`).
    pub init_timeout_secs: u64,
    /// Active subscriptions per websocket (`ROUTER_WS_MAX_PER_CONNECTION`).
    pub max_per_connection: usize,
    /// Active subscriptions per authenticated user across connections (`ROUTER_WS_MAX_PER_USER`).
    pub max_per_user: usize,
    /// How long a lost connection to a subgraph is retried (its subscriptions kept and
    /// subscribed again) before they end with `SUBGRAPH_UNAVAILABLE`
    /// (`ROUTER_SUBSCRIPTIONS_RECONNECT_SECS`).
    pub upstream_reconnect_secs: u64,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        Self {
            keepalive_secs: 15,
            init_timeout_secs: 10,
            max_per_connection: 100,
            max_per_user: 200,
            upstream_reconnect_secs: 30,
        }
    }
}

/// Automatic persisted queries (Apollo's protocol): documents by SHA-256, registered by
/// the clients themselves.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApqConfig {
    /// `ROUTER_APQ`.
    pub enabled: bool,
    /// Documents kept in this process (`ROUTER_APQ_CACHE_SIZE`).
    pub cache_capacity: usize,
    /// Shares the documents with every replica (`REDIS_URL`).
    pub redis_url: Option<String>,
    /// How long a document stays in Redis after it was registered (`ROUTER_APQ_TTL_SECS`).
    pub ttl_secs: u64,
    /// Prefix of every Redis key.
    pub key_prefix: String,
}

impl Default for ApqConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cache_capacity: 10_000,
            redis_url: None,
            ttl_secs: 86_400,
            key_prefix: "router:apq".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersistedDocumentsConfig {
    /// The manifest: Apollo's persisted query manifest or a `{id: document}` JSON map
    /// (`ROUTER_PERSISTED_DOCUMENTS`); none by default.
    pub path: Option<PathBuf>,
    /// `ROUTER_PERSISTED_DOCUMENTS_MODE`: `log` or `enforce`.
    pub mode: PersistedDocumentsMode,
    /// How often the file is checked for changes.
    pub poll_interval_ms: u64,
}

impl Default for PersistedDocumentsConfig {
    fn default() -> Self {
        Self {
            path: None,
            mode: PersistedDocumentsMode::Log,
            poll_interval_ms: 1000,
        }
    }
}

/// What happens to an operation that is not in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersistedDocumentsMode {
    /// Served, and logged (`router_persisted_documents_total{result="not_in_list"}`).
    Log,
    /// Refused with `PERSISTED_QUERY_NOT_IN_LIST`.
    Enforce,
}

/// `FromStr` for a mode enum set by a variable: its names, and an error listing them.
macro_rules! modes_from_str {
    ($mode:ident { $($name:literal => $variant:ident),+ $(,)? }) => {
        impl std::str::FromStr for $mode {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(format!("expected one of: {}", [$($name),+].join(", "))),
                }
            }
        }
    };
}

modes_from_str!(PersistedDocumentsMode { "log" => Log, "enforce" => Enforce });

/// Enforcing the supergraph's authorization directives (with JWT verification configured:
/// without it the router knows no caller and leaves the checks to the subgraphs).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// `ROUTER_AUTHORIZATION`.
    pub enabled: bool,
    /// `ROUTER_AUTHORIZATION_MODE`: `filter` or `reject`.
    pub mode: AuthorizationMode,
    /// The claim that holds the caller's scopes, space separated or an array
    /// (`ROUTER_AUTHORIZATION_SCOPE_CLAIM`).
    pub scope_claim: String,
    /// What each policy of `@policy(policies:)` means, by name. A policy not defined here
    /// never holds.
    pub policies: BTreeMap<String, PolicyRule>,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            mode: AuthorizationMode::Filter,
            scope_claim: "scope".into(),
            policies: BTreeMap::new(),
        }
    }
}

/// What happens to an operation that selects something its caller may not see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationMode {
    /// Those fields are removed and null, each with an `UNAUTHORIZED_FIELD_OR_TYPE` error;
    /// the rest is answered. (A subscription or a deferring operation is refused whole.)
    Filter,
    /// The whole operation is refused.
    Reject,
}

modes_from_str!(AuthorizationMode { "filter" => Filter, "reject" => Reject });

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemandControlConfig {
    /// `ROUTER_DEMAND_CONTROL`: `off`, `measure` (estimate and record) or `enforce`.
    pub mode: DemandControlMode,
    /// The largest estimated cost `enforce` lets through (`ROUTER_MAX_COST`).
    pub max_cost: u64,
    /// The size of a list without `@listSize` or slicing argument
    /// (`ROUTER_DEFAULT_LIST_SIZE`).
    pub list_size: u64,
    /// Also count the cost of every answer (`router_operation_cost{kind="actual"}`), which
    /// reads each response once more (`ROUTER_ACTUAL_COST`); a client that sends
    /// `X-Include-Cost: true` gets it regardless.
    pub actual: bool,
}

impl Default for DemandControlConfig {
    fn default() -> Self {
        Self {
            mode: DemandControlMode::Measure,
            max_cost: 5_000,
            list_size: 10,
            actual: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemandControlMode {
    Off,
    /// Estimated and recorded (`router_operation_cost`), never refused.
    Measure,
    /// Operations estimated above `max_cost` are refused with `COST_ESTIMATED_TOO_EXPENSIVE`.
    Enforce,
}

modes_from_str!(DemandControlMode { "off" => Off, "measure" => Measure, "enforce" => Enforce });

/// A named rule over the token's claims: the claim has one of these values (an array
/// claim: contains one), e.g. `{claim: role, one_of: [ADMIN]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    pub claim: String,
    pub one_of: Vec<String>,
}

impl RouterConfig {
    /// Defaults, then the YAML file (if any), then the environment.
    pub fn load(file: Option<&std::path::Path>, env: &Env) -> anyhow::Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
                Self::from_yaml(&text)
                    .map_err(|e| anyhow::anyhow!("invalid config {}: {e}", path.display()))?
            }
            None => Self::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    pub fn from_yaml(text: &str) -> Result<Self, serde_yaml_ng::Error> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml_ng::from_str(text)
    }

    /// Environment variables override the file, so one image serves every environment.
    pub fn apply_env(&mut self, env: &Env) -> Result<(), ConfigError> {
        if let Some(host) = env.get("HOST") {
            self.host = host;
        }
        self.port = env.parse_or("ROUTER_PORT", self.port)?;
        if env.get("ROUTER_TRUSTED_PROXIES").is_some() {
            self.trusted_proxies = TrustedProxies::from_env(env, "ROUTER_TRUSTED_PROXIES")?;
        }
        self.graphiql = env.bool_or("ROUTER_GRAPHIQL", self.graphiql)?;
        if let Some(path) = env.get("ROUTER_GRAPHIQL_EXAMPLE_FILE") {
            let example = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::new("ROUTER_GRAPHIQL_EXAMPLE_FILE", &path, e))?;
            self.graphiql_example = Some(example);
        }

        let sg = &mut self.supergraph;
        if let Some(path) = env.get("ROUTER_SUPERGRAPH") {
            sg.path = path.into();
        }
        sg.watch = env.bool_or("ROUTER_SUPERGRAPH_WATCH", sg.watch)?;
        sg.poll_interval_ms = env.ranged_or(
            "ROUTER_SUPERGRAPH_POLL_MS",
            sg.poll_interval_ms,
            10..=3_600_000,
        )?;

        // `ROUTER_SUBGRAPH_<NAME>_URL` is read when a supergraph is loaded, since only the
        // supergraph knows the subgraph names (see `Supergraph::load`).

        let t = &mut self.traffic;
        t.subgraph_timeout_ms = env.ranged_or(
            "ROUTER_SUBGRAPH_TIMEOUT_MS",
            t.subgraph_timeout_ms,
            1..=3_600_000,
        )?;
        let cb = &mut t.circuit_breaker;
        cb.enabled = env.bool_or("ROUTER_CIRCUIT_BREAKER", cb.enabled)?;
        cb.failure_threshold =
            env.ranged_or("ROUTER_CIRCUIT_FAILURES", cb.failure_threshold, 1..=10_000)?;
        cb.open_ms = env.ranged_or("ROUTER_CIRCUIT_OPEN_MS", cb.open_ms, 1..=3_600_000)?;
        let d = &mut t.dedupe;
        d.subgraph_requests =
            env.bool_or("ROUTER_DEDUPE_SUBGRAPH_REQUESTS", d.subgraph_requests)?;
        d.client_requests = env.bool_or("ROUTER_DEDUPE_CLIENT_REQUESTS", d.client_requests)?;

        let l = &mut self.limits;
        l.max_body_bytes =
            env.ranged_or("ROUTER_MAX_BODY_BYTES", l.max_body_bytes, 64..=1 << 30)?;
        l.max_depth = env.ranged_or("ROUTER_MAX_DEPTH", l.max_depth, 1..=1000)?;
        l.max_aliases = env.ranged_or("ROUTER_MAX_ALIASES", l.max_aliases, 0..=100_000)?;
        l.max_root_fields =
            env.ranged_or("ROUTER_MAX_ROOT_FIELDS", l.max_root_fields, 1..=100_000)?;
        l.max_tokens = env.ranged_or("ROUTER_MAX_TOKENS", l.max_tokens, 10..=10_000_000)?;
        l.operation_timeout_ms = env.ranged_or(
            "ROUTER_OPERATION_TIMEOUT_MS",
            l.operation_timeout_ms,
            1..=3_600_000,
        )?;
        l.planning_timeout_ms = env.ranged_or(
            "ROUTER_PLANNING_TIMEOUT_MS",
            l.planning_timeout_ms,
            1..=600_000,
        )?;
        l.introspection = env.bool_or("ROUTER_INTROSPECTION", l.introspection)?;
        l.max_batch_size = env.ranged_or("ROUTER_MAX_BATCH_SIZE", l.max_batch_size, 1..=1000)?;

        self.plan_cache.capacity = env.ranged_or(
            "ROUTER_PLAN_CACHE_SIZE",
            self.plan_cache.capacity,
            1..=1_000_000,
        )?;

        self.apply_jwt_env(env)?;
        self.apply_rate_limit_env(env)?;
        self.apply_policy_env(env)?;

        if let Some(origins) = env.get("ROUTER_CORS_ORIGINS") {
            self.cors.allow_origins = split_list(&origins);
        }
        self.cors.allow_any_origin =
            env.bool_or("ROUTER_CORS_ALLOW_ANY", self.cors.allow_any_origin)?;

        let s = &mut self.subscriptions;
        s.keepalive_secs = env.ranged_or("ROUTER_WS_KEEPALIVE_SECS", s.keepalive_secs, 1..=3600)?;
        s.init_timeout_secs =
            env.ranged_or("ROUTER_WS_INIT_TIMEOUT_SECS", s.init_timeout_secs, 1..=3600)?;
        s.max_per_connection = env.ranged_or(
            "ROUTER_WS_MAX_PER_CONNECTION",
            s.max_per_connection,
            1..=100_000,
        )?;
        s.max_per_user = env.ranged_or("ROUTER_WS_MAX_PER_USER", s.max_per_user, 1..=1_000_000)?;
        s.upstream_reconnect_secs = env.ranged_or(
            "ROUTER_SUBSCRIPTIONS_RECONNECT_SECS",
            s.upstream_reconnect_secs,
            0..=3600,
        )?;
        Ok(())
    }

    fn apply_jwt_env(&mut self, env: &Env) -> Result<(), ConfigError> {
        let url = env.url_opt("ROUTER_JWKS_URL", &["http", "https"])?;
        let file = env.get("ROUTER_JWKS_FILE");
        // Either source switches verification on, even without a `jwt` section in the file.
        if (url.is_some() || file.is_some()) && self.jwt.is_none() {
            self.jwt = Some(JwtConfig::default());
        }
        let Some(jwt) = self.jwt.as_mut() else {
            return Ok(());
        };
        if url.is_some() {
            jwt.jwks_url = url;
        }
        if let Some(file) = file {
            jwt.jwks_file = Some(file.into());
        }
        jwt.refresh_interval_secs = env.ranged_or(
            "ROUTER_JWKS_REFRESH_SECS",
            jwt.refresh_interval_secs,
            1..=86_400,
        )?;
        if let Some(issuer) = env.get("JWT_ISSUER") {
            jwt.issuer = issuer;
        }
        if let Some(audience) = env.get("JWT_AUDIENCE") {
            jwt.audience = audience;
        }
        if let Some(algs) = env.get("ROUTER_JWT_ALGORITHMS") {
            jwt.algorithms = split_list(&algs);
        }
        jwt.leeway_secs = env.ranged_or("ROUTER_JWT_LEEWAY_SECS", jwt.leeway_secs, 0..=3600)?;
        if let Some(header) = env.get("ROUTER_JWT_HEADER") {
            jwt.header = header;
        }
        if let Some(prefix) = env.get("ROUTER_JWT_PREFIX") {
            jwt.prefix = prefix;
        }
        jwt.require_authentication =
            env.bool_or("ROUTER_REQUIRE_AUTHENTICATION", jwt.require_authentication)?;
        if let Some(header) = env.get("ROUTER_JWT_CLAIMS_HEADER") {
            jwt.forward_claims_header = header;
        }
        Ok(())
    }

    fn apply_policy_env(&mut self, env: &Env) -> Result<(), ConfigError> {
        let apq = &mut self.apq;
        apq.enabled = env.bool_or("ROUTER_APQ", apq.enabled)?;
        apq.cache_capacity =
            env.ranged_or("ROUTER_APQ_CACHE_SIZE", apq.cache_capacity, 1..=10_000_000)?;
        apq.ttl_secs = env.ranged_or("ROUTER_APQ_TTL_SECS", apq.ttl_secs, 1..=31_536_000)?;
        if let Some(url) = env.url_opt("REDIS_URL", &["redis", "rediss"])? {
            apq.redis_url = Some(url);
        }
        let authorization = &mut self.authorization;
        authorization.enabled = env.bool_or("ROUTER_AUTHORIZATION", authorization.enabled)?;
        authorization.mode = env.parse_or("ROUTER_AUTHORIZATION_MODE", authorization.mode)?;
        if let Some(claim) = env.get("ROUTER_AUTHORIZATION_SCOPE_CLAIM") {
            authorization.scope_claim = claim;
        }
        let cost = &mut self.demand_control;
        cost.mode = env.parse_or("ROUTER_DEMAND_CONTROL", cost.mode)?;
        cost.max_cost = env.ranged_or("ROUTER_MAX_COST", cost.max_cost, 1..=u64::MAX)?;
        cost.list_size =
            env.ranged_or("ROUTER_DEFAULT_LIST_SIZE", cost.list_size, 0..=1_000_000)?;
        cost.actual = env.bool_or("ROUTER_ACTUAL_COST", cost.actual)?;
        let documents = &mut self.persisted_documents;
        if let Some(path) = env.get("ROUTER_PERSISTED_DOCUMENTS") {
            documents.path = Some(PathBuf::from(path));
        }
        documents.mode = env.parse_or("ROUTER_PERSISTED_DOCUMENTS_MODE", documents.mode)?;
        Ok(())
    }

    fn apply_rate_limit_env(&mut self, env: &Env) -> Result<(), ConfigError> {
        if env.bool_or("ROUTER_RATE_LIMIT_IP", self.rate_limit.per_ip.is_some())? {
            let ip = self
                .rate_limit
                .per_ip
                .get_or_insert_with(PerIpLimit::default);
            ip.per_second = env.ranged_or(
                "ROUTER_RATE_LIMIT_IP_PER_SECOND",
                ip.per_second,
                1..=1_000_000,
            )?;
            ip.burst = env.ranged_or("ROUTER_RATE_LIMIT_IP_BURST", ip.burst, 1..=1_000_000)?;
        } else {
            self.rate_limit.per_ip = None;
        }
        // REDIS_URL is the platform-wide switch to the shared limiter.
        let redis_url = env.url_opt("REDIS_URL", &["redis", "rediss"])?;
        if redis_url.is_some() && self.rate_limit.per_user.is_none() {
            self.rate_limit.per_user = Some(PerUserLimit::default());
        }
        if let Some(user) = self.rate_limit.per_user.as_mut() {
            if redis_url.is_some() {
                user.redis_url = redis_url;
            }
            user.requests = env.ranged_or(
                "ROUTER_RATE_LIMIT_USER_REQUESTS",
                user.requests,
                1..=u64::MAX,
            )?;
            user.sensitive_requests = env.ranged_or(
                "ROUTER_RATE_LIMIT_SENSITIVE_REQUESTS",
                user.sensitive_requests,
                1..=u64::MAX,
            )?;
            user.window_secs = env.ranged_or(
                "ROUTER_RATE_LIMIT_WINDOW_SECS",
                user.window_secs,
                1..=86_400,
            )?;
            user.fail_open = env.bool_or("ROUTER_RATE_LIMIT_FAIL_OPEN", user.fail_open)?;
            if let Some(prefix) = env.get("ROUTER_RATE_LIMIT_PREFIX") {
                user.key_prefix = prefix;
            }
        }
        Ok(())
    }

    pub fn subgraph_timeout(&self, name: &str) -> Duration {
        let ms = self
            .subgraphs
            .get(name)
            .and_then(|s| s.timeout_ms)
            .unwrap_or(self.traffic.subgraph_timeout_ms);
        Duration::from_millis(ms)
    }
}

/// `accounts-v2` → `ACCOUNTS_V2`, the shape of an environment variable name.
pub fn env_name(subgraph: &str) -> String {
    subgraph
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_open_on_port_4000() {
        let config = RouterConfig::load(None, &Env::from_map::<&str, &str>([])).unwrap();
        assert_eq!(config.port, 4000);
        assert_eq!(config.host, "127.0.0.1");
        assert!(config.jwt.is_none());
        assert!(config.rate_limit.per_ip.is_none());
        assert!(config.rate_limit.per_user.is_none());
        assert_eq!(
            config.supergraph.path,
            PathBuf::from("schema/supergraph.graphql")
        );
    }

    #[test]
    fn env_overrides_the_file() {
        let yaml = "port: 5000\nlimits:\n  max_depth: 7\n  introspection: false\n";
        let mut config = RouterConfig::from_yaml(yaml).unwrap();
        assert_eq!(config.port, 5000);
        assert_eq!(config.limits.max_depth, 7);
        assert!(!config.limits.introspection);
        config
            .apply_env(&Env::from_map([
                ("ROUTER_MAX_DEPTH", "9"),
                ("ROUTER_PORT", "0"),
            ]))
            .unwrap();
        assert_eq!(config.limits.max_depth, 9);
        assert_eq!(config.port, 0);
    }

    #[test]
    fn a_bad_variable_is_named() {
        let mut config = RouterConfig::default();
        let err = config
            .apply_env(&Env::from_map([("ROUTER_MAX_DEPTH", "deep")]))
            .unwrap_err();
        assert_eq!(err.var, "ROUTER_MAX_DEPTH");
    }

    #[test]
    fn unknown_keys_in_the_file_are_rejected() {
        let err = RouterConfig::from_yaml("limits:\n  max_dept: 3\n").unwrap_err();
        assert!(err.to_string().contains("max_dept"), "{err}");
    }

    #[test]
    fn jwks_url_and_redis_url_switch_features_on() {
        let mut config = RouterConfig::default();
        config
            .apply_env(&Env::from_map([
                (
                    "ROUTER_JWKS_URL",
                    "http://127.0.0.1:4001/.well-known/jwks.json",
                ),
                ("REDIS_URL", "redis://127.0.0.1:6379"),
                ("ROUTER_REQUIRE_AUTHENTICATION", "true"),
            ]))
            .unwrap();
        let jwt = config.jwt.unwrap();
        assert!(jwt.require_authentication);
        assert!(jwt.jwks_url.is_some());
        assert_eq!(
            config.rate_limit.per_user.unwrap().redis_url.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
    }

    #[test]
    fn subgraph_env_names() {
        assert_eq!(env_name("accounts-v2"), "ACCOUNTS_V2");
    }
}
