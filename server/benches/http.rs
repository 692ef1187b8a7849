//! HTTP load benchmark: the real router on a loopback port against a real PostgreSQL.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p server --bench http
//!
//! Creates a scratch database, loads the demo data plus `SOCIETIES` extra societies, signs a
//! user in through an emailed-link token, then sends a bounded number of requests per endpoint
//! from `CONCURRENCY` clients and prints throughput, latency percentiles, and how many times
//! the session table was written meanwhile (from PostgreSQL's statistics).

use std::time::Duration;

use sqlx::PgPool;
use support::Scratch;

mod support;

const REQUESTS: usize = 4_000;
const CONCURRENCY: usize = 16;
const SOCIETIES: usize = 200;

#[tokio::main]
async fn main() {
    let scratch = Scratch::create("roster_bench").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = scratch.config(addr, true);
    let pool = server::connect(&config).await.unwrap();
    seed(&pool).await;
    let serve = support::serve(&config, pool.clone(), listener).await;

    let cookie = support::sign_in(&pool, addr, "member@demo.roster.test").await;
    println!("Roster HTTP benchmark: {REQUESTS} requests per endpoint, {CONCURRENCY} concurrent clients, {SOCIETIES} extra societies");
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "sess wr"
    );
    for (name, method, path, with_cookie) in [
        ("GET /healthz", "GET", "/healthz", false),
        ("GET /readyz (database ping)", "GET", "/readyz", false),
        (
            "POST /api/current_user (visitor)",
            "POST",
            "/api/current_user",
            false,
        ),
        (
            "POST /api/current_user (session)",
            "POST",
            "/api/current_user",
            true,
        ),
        (
            "POST /api/list_societies",
            "POST",
            "/api/list_societies",
            false,
        ),
        ("GET / (SSR, societies list)", "GET", "/", false),
        ("GET / (SSR, brotli)", "GET", "/#br", false),
        ("GET /me (SSR, signed in)", "GET", "/me", true),
    ] {
        let cookie = with_cookie.then(|| cookie.clone());
        let writes_before = session_writes(&pool).await;
        let request = support::Request {
            post: method == "POST",
            path: path.trim_end_matches("#br").to_string(),
            cookie,
            // A path ending in `#br` asks for a brotli-compressed answer.
            brotli: path.ends_with("#br"),
        };
        let (elapsed, mut latencies, _) = support::load(addr, request, REQUESTS, CONCURRENCY).await;
        let writes = session_writes(&pool).await - writes_before;
        latencies.sort();
        let pct = |p: f64| support::percentile_ms(&latencies, p);
        println!(
            "{:<34} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9}",
            name,
            REQUESTS as f64 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.95),
            pct(0.99),
            latencies.last().unwrap().as_secs_f64() * 1e3,
            writes
        );
    }

    serve.abort();
    pool.close().await;
    scratch.drop().await;
}

/// Rows written to the session table so far (inserts + updates), once every server
/// connection has reported its statistics (they do so within a second of going idle).
async fn session_writes(pool: &PgPool) -> i64 {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sqlx::query_scalar(
        "select coalesce(sum(n_tup_ins + n_tup_upd), 0)::bigint from pg_stat_user_tables
          where schemaname = 'tower_sessions' and relname = 'session'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn seed(pool: &PgPool) {
    sqlx::query(
        "insert into societies (slug, name, time_zone)
         select 'bench-club-' || i, 'Bench Club ' || i, 'Europe/Berlin' from generate_series(1, $1) as i",
    )
    .bind(SOCIETIES as i32)
    .execute(pool)
    .await
    .unwrap();
}
