//! Migrations of the auth database. They run on PostgreSQL in production and on SQLite for
//! the embedded default, so they use only what both support.

pub use sea_orm_migration::prelude::*;

mod m20260101_000001_users;
mod m20260101_000002_refresh_tokens;
mod m20260101_000003_outbox;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_users::Migration),
            Box::new(m20260101_000002_refresh_tokens::Migration),
            Box::new(m20260101_000003_outbox::Migration),
        ]
    }
}
