//! What the benchmarks share: a scratch database on `DATABASE_URL`'s server, and a
//! configuration with email sign-in and mail kept in a folder.

use std::net::SocketAddr;

use server::config::{Config, MailConfig};
use sqlx::{Connection, PgConnection};

/// A database created for one benchmark run and dropped by `drop`.
pub struct Scratch {
    admin: PgConnection,
    pub name: String,
    pub url: String,
}

impl Scratch {
    pub async fn create(prefix: &str) -> Self {
        let admin_url = std::env::var("DATABASE_URL")
            .expect("set DATABASE_URL to a PostgreSQL server (any database)");
        let name = format!("{prefix}_{}", std::process::id());
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect");
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
        Self { admin, name, url }
    }

    /// Roster's configuration for this database, serving on `addr`.
    pub fn config(&self, addr: SocketAddr, demo_data: bool) -> Config {
        Config {
            database_url: self.url.clone().into(),
            db_max_connections: 20,
            public_url: format!("http://{addr}").parse().unwrap(),
            bind: addr,
            oidc: None,
            email_login: true,
            mail: MailConfig::Folder(std::env::temp_dir().join(format!("{}-mail", self.name))),
            mail_from: "Roster <roster@bench.example>".into(),
            admin_emails: vec![],
            demo_data,
            session_idle_minutes: 60,
            session_max_days: 1,
            trust_forwarded_for: false,
            json_logs: false,
        }
    }

    pub async fn drop(mut self) {
        sqlx::query(&format!("drop database {} with (force)", self.name))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}
