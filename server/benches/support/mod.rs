//! What the benchmarks share: a scratch database on `DATABASE_URL`'s server, and a
//! configuration with email sign-in and mail kept in a folder.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use server::config::{Config, Vars};
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
        let public = format!("http://{addr}");
        let bind = addr.to_string();
        let mail = std::env::temp_dir().join(format!("{}-mail", self.name));
        let mail = mail.to_string_lossy();
        let demo = demo_data.to_string();
        Config::from_vars(&Vars::from_pairs(&[
            ("DATABASE_URL", &self.url),
            ("ROSTER_PUBLIC_URL", &public),
            ("LEPTOS_SITE_ADDR", &bind),
            ("ROSTER_MAIL_TRANSPORT", "folder"),
            ("ROSTER_MAIL_DIR", &mail),
            ("ROSTER_MAIL_FROM", "Roster <roster@bench.example>"),
            ("ROSTER_DEMO_DATA", &demo),
            ("ROSTER_SESSION_IDLE_MINUTES", "60"),
            ("ROSTER_SESSION_MAX_DAYS", "1"),
            ("ROSTER_REQUEST_DIGEST_MINUTES", "0"),
            // Benchmarks send everything from one address, as fast as they can.
            ("ROSTER_RATE_API_PER_ADDRESS", "0"),
            ("ROSTER_RATE_API_PER_PERSON", "0"),
            ("ROSTER_RATE_WRITES_PER_PERSON", "0"),
        ]))
        .expect("the bench configuration is valid")
    }

    pub async fn drop(mut self) {
        sqlx::query(&format!("drop database {} with (force)", self.name))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}

/// Signs `email` in with an emailed-link token, as a browser would; returns the cookie.
#[allow(dead_code)]
pub async fn sign_in(pool: &sqlx::PgPool, addr: SocketAddr, email: &str) -> String {
    sign_in_from(pool, addr, email, "bench").await
}

/// `sign_in`, with the link asked for from `client`: a client gets 20 links an hour, so a
/// benchmark that signs many members in names a client for each.
#[allow(dead_code)]
pub async fn sign_in_from(
    pool: &sqlx::PgPool,
    addr: SocketAddr,
    email: &str,
    client: &str,
) -> String {
    let mut conn = pool.acquire().await.unwrap();
    let token = app::auth::db::create_email_token(&mut conn, email, client)
        .await
        .unwrap()
        .expect("a new sign-in link");
    drop(conn);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(format!("http://{addr}/auth/email"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// One request as a benchmark sends it.
#[derive(Clone)]
#[allow(dead_code)]
pub struct Request {
    pub post: bool,
    pub path: String,
    pub cookie: Option<String>,
    /// Ask for a brotli-compressed answer.
    pub brotli: bool,
}

/// Sends `requests` copies of `request` from `concurrency` clients; returns the time taken,
/// every latency, and the body of one answer (sent first, outside the timing).
#[allow(dead_code)]
pub async fn load(
    addr: SocketAddr,
    request: Request,
    requests: usize,
    concurrency: usize,
) -> (Duration, Vec<Duration>, String) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let url = format!("http://{addr}{}", request.path);
    let send = |client: &reqwest::Client| {
        let mut builder = if request.post {
            client.post(&url)
        } else {
            client.get(&url)
        };
        if let Some(cookie) = &request.cookie {
            builder = builder.header("cookie", cookie);
        }
        if request.brotli {
            builder = builder.header("accept-encoding", "br");
        }
        builder
    };
    let sample = send(&client).send().await.unwrap();
    assert!(sample.status().is_success(), "{url}: {}", sample.status());
    let body = sample.text().await.unwrap_or_default();
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let builders: Vec<_> = (worker..requests)
            .step_by(concurrency)
            .map(|_| send(&client))
            .collect();
        let url = url.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(builders.len());
            for builder in builders {
                let t = Instant::now();
                let response = builder.send().await.unwrap();
                assert!(
                    response.status().is_success(),
                    "{url}: {}",
                    response.status()
                );
                response.bytes().await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    (started.elapsed(), all, body)
}

/// The `p`-th percentile of sorted `latencies`, in milliseconds.
#[allow(dead_code)]
pub fn percentile_ms(latencies: &[Duration], p: f64) -> f64 {
    latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3
}

/// `n` users `member-1@bench.example` … `member-n@bench.example`, by email sign-in.
#[allow(dead_code)]
pub async fn seed_members(pool: &sqlx::PgPool, n: i32) {
    sqlx::query(
        "insert into users (issuer, subject, email, email_verified, name)
         select 'roster:email', 'member-' || i || '@bench.example', 'member-' || i || '@bench.example', true,
                'Member ' || i from generate_series(1, $1) as i",
    )
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
}

/// The society "Bench Club" (`club`, Europe/Berlin), made through the domain by its founder
/// (a platform admin, and so its first admin).
#[allow(dead_code)]
pub async fn bench_club(
    conn: &mut PgConnection,
) -> (app::access::CurrentUser, app::societies::Society) {
    let founder = app::auth::db::upsert_email_user(conn, "founder@bench.example", true)
        .await
        .unwrap();
    let creator = app::access::require_platform_admin(&founder).unwrap();
    let society = app::societies::db::create(
        conn,
        &creator,
        app::societies::NewSociety {
            name: "Bench Club".into(),
            slug: "club".into(),
            time_zone: "Europe/Berlin".into(),
        },
    )
    .await
    .unwrap();
    (founder, society)
}

/// Serves Roster for `config` on `listener` until the bench ends (its background work too).
#[allow(dead_code)]
pub async fn serve(
    config: &Config,
    pool: sqlx::PgPool,
    listener: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    let options = leptos::prelude::LeptosOptions::builder()
        .output_name("roster")
        .build();
    let built = server::build(config, pool, options).await.unwrap();
    let router = built.router;
    // Runs until the bench ends.
    std::mem::forget(built.background);
    std::mem::forget(built.lifecycle);
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    })
}

/// One line of the benchmark table (README "Benchmarks"): what was measured, its goal, the
/// value now, and its reference measured in the same run (with the ratio to it). Printed at
/// once; when `ROSTER_BENCH_TABLE` names a file, also appended to it (tab-separated), where
/// `.ci/bench` gathers every benchmark's lines into one table.
#[allow(dead_code)]
pub fn figure(name: &str, goal: &str, now: &str, reference: &str) {
    println!("  figure: {name} | goal {goal} | now {now} | {reference}");
    if let Some(path) = std::env::var_os("ROSTER_BENCH_TABLE") {
        use std::io::Write;
        let clean = |text: &str| text.replace(['\t', '\n'], " ");
        let line = format!(
            "{}\t{}\t{}\t{}\n",
            clean(name),
            clean(goal),
            clean(now),
            clean(reference)
        );
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the benchmark table file");
        file.write_all(line.as_bytes())
            .expect("a table line written");
    }
}

/// CPU time this process has used so far (user + system), from `/proc/self/stat`: the
/// server's work and, in benchmarks that load it from inside, its clients' too.
#[allow(dead_code)]
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line: indexes 11 and 12 of what follows
    // the name (field 2). The clock ticks 100 times a second on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
