//! The `auth` binary as a process: its commands, its logs, its start-up errors.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use service_kit::testing::{servers, unique_name};

const BIN: &str = env!("CARGO_BIN_EXE_auth");

struct Db(String);

impl Db {
    async fn create() -> Self {
        let name = unique_name("auth_proc");
        let admin = Database::connect(servers::postgres_admin_url())
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        Self(name)
    }

    fn url(&self) -> String {
        let admin = servers::postgres_admin_url();
        let base = admin.rsplit_once('/').unwrap().0.to_owned();
        format!("{base}/{}", self.0)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = Database::connect(servers::postgres_admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

fn base_command(db: &Db, data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.url())
        .env("DATA_DIR", data_dir)
        .env("ARGON2_MEMORY_KIB", "64")
        .env("ARGON2_ITERATIONS", "1")
        .env("RUST_LOG", "debug,sqlx=warn,hyper=info,h2=info");
    cmd
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(db: &Db, data_dir: &std::path::Path, log_dir: &std::path::Path) -> Server {
    let port = service_kit::testing::free_port();
    let child = base_command(db, data_dir)
        .env("AUTH_PORT", port.to_string())
        .env("LOG_DIR", log_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("auth did not start");
}

async fn gql(port: u16, query: &str, variables: Value, token: Option<&str>) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// No response or log line contains a password, a hash or a token, even at debug level
/// and through failed logins, bad tokens and refresh-token reuse.
#[tokio::test]
async fn logs_never_contain_secrets() {
    let db = Db::create().await;
    let dir = std::env::temp_dir().join(unique_name("auth_logs"));
    let mut server = start(&db, &dir.join("data"), &dir.join("logs")).await;
    let port = server.port;
    let password = "hunter2-but-longer";
    let registered = gql(
        port,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken refreshToken } }",
        json!({ "i": { "email": "log@example.com", "password": password, "firstName": "L", "lastName": "G" } }),
        None,
    )
    .await;
    let access = registered["data"]["register"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = registered["data"]["register"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    gql(
        port,
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        json!({ "i": { "email": "log@example.com", "password": "wrong password" } }),
        None,
    )
    .await;
    gql(
        port,
        "{ me { id } }",
        json!({}),
        Some(&format!("{access}x")),
    )
    .await;
    for _ in 0..2 {
        gql(
            port,
            "mutation($t: String!) { refresh(refreshToken: $t) { accessToken } }",
            json!({ "t": refresh }),
            None,
        )
        .await;
    }
    // Something must have been logged, or the test proves nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = server.child.kill();
    let mut stdout = String::new();
    for line in BufReader::new(server.child.stdout.take().unwrap()).lines() {
        stdout.push_str(&line.unwrap());
        stdout.push('\n');
    }
    let combined = std::fs::read_to_string(dir.join("logs/combined.log")).unwrap();
    assert!(stdout.contains("refresh token reused"), "{stdout}");
    assert!(combined.contains("refresh token reused"));
    let hash_prefix = "$argon2id$";
    for (name, log) in [("stdout", &stdout), ("combined.log", &combined)] {
        for secret in [password, access.as_str(), refresh.as_str(), hash_prefix] {
            assert!(!log.contains(secret), "{name} leaks a secret");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn create_admin_then_the_admin_lists_users() {
    let db = Db::create().await;
    let dir = std::env::temp_dir().join(unique_name("auth_admin"));
    let status = base_command(&db, &dir)
        .args(["create-admin", "--email", "root@example.com"])
        .env("ADMIN_PASSWORD", "root password")
        .status()
        .unwrap();
    assert!(status.success());
    let server = start(&db, &dir, &dir.join("logs")).await;
    let login = gql(
        server.port,
        "mutation($i: LoginInput!) { login(input: $i) { accessToken user { role } } }",
        json!({ "i": { "email": "root@example.com", "password": "root password" } }),
        None,
    )
    .await;
    assert_eq!(login["data"]["login"]["user"]["role"], "ADMIN", "{login}");
    let token = login["data"]["login"]["accessToken"].as_str().unwrap();
    let users = gql(
        server.port,
        "{ users { edges { node { email } } } }",
        json!({}),
        Some(token),
    )
    .await;
    assert_eq!(
        users["data"]["users"]["edges"][0]["node"]["email"],
        "root@example.com"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_variable_stops_start_up_and_is_named() {
    let output = Command::new(BIN)
        .env("AUTH_ACCESS_TOKEN_TTL_SECS", "soon")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AUTH_ACCESS_TOKEN_TTL_SECS"), "{stderr}");
}

#[test]
fn print_schema_prints_the_federation_sdl() {
    let output = Command::new(BIN).arg("print-schema").output().unwrap();
    assert!(output.status.success());
    let sdl = String::from_utf8(output.stdout).unwrap();
    assert!(sdl.contains("type User @key(fields: \"id\")"), "{sdl}");
    assert!(sdl.contains("register(input: RegisterInput!): AuthPayload!"));
    assert!(!sdl.to_lowercase().contains("passwordhash"));
}

#[tokio::test]
async fn migrate_command_prepares_an_empty_database() {
    let db = Db::create().await;
    let dir = std::env::temp_dir().join(unique_name("auth_migrate"));
    let output = base_command(&db, &dir).arg("migrate").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let conn = Database::connect(db.url()).await.unwrap();
    let tables = conn
        .query_all(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        ))
        .await
        .unwrap();
    let names: Vec<String> = tables
        .iter()
        .map(|r| r.try_get("", "tablename").unwrap())
        .collect();
    for table in ["outbox_events", "refresh_tokens", "users"] {
        assert!(names.contains(&table.to_owned()), "{names:?}");
    }
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
}
