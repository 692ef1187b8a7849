//! Booking benchmark.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p server --bench bookings
//!
//! Needs `pgbench` on the PATH (or `PGBENCH=/path/to/pgbench`). Seeds a scratch database: the
//! society `club` with 10,000 members, 200 one-off sessions of 1,000 spots two to ten days
//! ahead and one 10-seat session (made through the domain), and the society `weekly` with
//! 100 weekly series over two years (10,400 sessions of 90 spots, written in bulk).
//!
//! 1. `POST /api/v1/bookings` at 16 and 64 concurrent clients, each request a new
//!    (member, session) pair of 1,000 signed-in members (browser session cookies) and 199 of
//!    the one-off sessions, so every request writes a booking with its audit and outbox rows.
//!    Next to it, pgbench runs the same SQL transaction the domain runs for one booking (the
//!    same statements in the same order) at the same client counts: req/s against tps, the
//!    latency percentiles of both, and the ratio. The database is vacuumed before each run, as
//!    autovacuum would be between them. The HTTP clients run in this process, on the same
//!    cores as the server and Postgres; pgbench's client is a process of its own.
//! 2. A rush: 1,000 distinct members book the 10-seat session at once, round-robin over three
//!    servers (three routers, each with its own pool) on the one database: confirmed and
//!    waitlisted counts, whether the waitlist positions are 1..990 in queue order, errors.
//! 3. The week calendar and a session page (live counts) for a signed-in member of `weekly`
//!    at 10,000 and at 1,000,000 bookings (bulk-loaded, counters recomputed, vacuumed), the
//!    member holding the same spot at both sizes: percentiles at each size and the ratio.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::access::{lock_as_admin, require_platform_admin, SocietyAdmin};
use app::events::{db as events, EventDetails, NewEvent};
use app::ids::{OccurrenceId, SocietyId};
use chrono::{Datelike, NaiveDate, NaiveTime};
use reqwest::StatusCode;
use sqlx::PgPool;
use support::Scratch;

mod pages;
mod pgbench;
#[path = "../support/mod.rs"]
mod support;

use pages::section_3;
use pgbench::{pgbench, PAIR_SPACE_HALF, PGBENCH_SCRIPT};

const MEMBERS: i32 = 10_000;
/// Members signed in through the email link (their cookies book in sections 1 and 2).
const SIGNED_IN: usize = 1_000;
const ONE_OFFS: usize = 200;
/// Sessions the HTTP load books: a count prime to `SIGNED_IN`, so that request `p` books
/// member `p % 1000` into session `p % 199` and no pair comes twice below 199,000 requests.
const LOAD_SESSIONS: usize = 199;
const BOOKINGS_PER_RUN: usize = 10_000;
const PGBENCH_SECONDS: u32 = 10;
/// pgbench books the members the HTTP load does not (`SIGNED_IN..MEMBERS`).
const PGBENCH_MEMBERS: usize = MEMBERS as usize - SIGNED_IN;
const RUSH: usize = 1_000;
const RUSH_SEATS: i32 = 10;
const RUSH_SERVERS: usize = 3;
const SERIES: i32 = 100;
const WEEKS: i32 = 104;
const SERIES_CAPACITY: i32 = 90;
const SMALL: i64 = 10_000;
const LARGE: i64 = 1_000_000;
const PAGE_REQUESTS: usize = 2_000;
/// Few clients, so that the latencies are the pages' own rather than the queue for two cores.
const PAGE_CONCURRENCY: usize = 4;
const PAGE_WARM_UP: usize = 200;
/// The place on the chosen session's list (0-based) of the member who views the pages: the
/// first, so they hold the same spot at both sizes and the page differs only by the data.
const VIEWER_PLACE: i64 = 0;

#[tokio::main]
async fn main() {
    let scratch = Scratch::create("roster_bench_bookings").await;
    let (addr, pool, serve) = start_server(&scratch, None).await;
    let seeded = Instant::now();
    let club = seed_club(&pool).await;
    println!(
        "Roster booking benchmark (seeded {MEMBERS} members, {ONE_OFFS} one-off sessions and a \
         {RUSH_SEATS}-seat one in {:.1} s; db_max_connections = {} per server)",
        seeded.elapsed().as_secs_f64(),
        pool_size(&scratch)
    );
    let signing = Instant::now();
    let cookies = Arc::new(sign_in_members(&pool, addr, SIGNED_IN).await);
    println!(
        "signed in {SIGNED_IN} members through the email link in {:.1} s ({:.0}/s, 16 at a time)",
        signing.elapsed().as_secs_f64(),
        SIGNED_IN as f64 / signing.elapsed().as_secs_f64()
    );

    section_1(&scratch, &pool, addr, &club, &cookies).await;
    section_2(&scratch, &pool, &club, &cookies).await;
    serve.abort();
    section_3(&scratch, &pool, &club).await;

    pool.close().await;
    let mail = std::env::temp_dir().join(format!("{}-mail", scratch.name));
    scratch.drop().await;
    let _ = std::fs::remove_dir_all(mail);
}

/// A Roster server on a port of its own, on `pool` or (`None`) on a pool of its own: its
/// address, its pool and the task serving it.
async fn start_server(
    scratch: &Scratch,
    pool: Option<PgPool>,
) -> (SocketAddr, PgPool, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = scratch.config(addr, false);
    let pool = match pool {
        Some(pool) => pool,
        None => server::connect(&config).await.unwrap(),
    };
    let serve = support::serve(&config, pool.clone(), listener).await;
    (addr, pool, serve)
}

/// Each server's `db_max_connections`.
fn pool_size(scratch: &Scratch) -> u32 {
    scratch
        .config("127.0.0.1:0".parse().unwrap(), false)
        .db_max_connections
}

/// Stops the benchmark with `message` (the scratch database stays for a look).
fn abort(message: &str) -> ! {
    eprintln!("bookings benchmark aborted: {message}");
    std::process::exit(1)
}

fn this_monday() -> NaiveDate {
    let today = chrono::Utc::now().date_naive();
    today - chrono::Duration::days(today.weekday().num_days_from_monday().into())
}

fn email(member: usize) -> String {
    format!("member-{}@bench.example", member + 1)
}

/// What the seed made in `club`, and its founder (who founds `weekly` too).
struct Club {
    society: SocietyId,
    /// The one-off sessions the load books, `LOAD_SESSIONS` of them.
    sessions: Arc<Vec<OccurrenceId>>,
    rush: OccurrenceId,
    founder: app::access::CurrentUser,
}

/// `MEMBERS` users (member `n` is `member-(n+1)@bench.example`), approved members of `club`
/// (its rules raised: booking opens 60 days ahead, 500 active bookings and 100 a week);
/// `ONE_OFFS` one-off sessions of 1,000 spots two to ten days ahead and the 10-seat rush
/// session, made through the domain by the founder, an admin of the society.
async fn seed_club(pool: &PgPool) -> Club {
    support::seed_members(pool, MEMBERS).await;
    // Member numbers and session numbers for pgbench and the bulk loads.
    sqlx::query(
        "create table bench_members as
         select (substring(subject from 'member-(\\d+)@')::int - 1) as n, id as user_id
           from users where subject like 'member-%'",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("alter table bench_members add primary key (n)")
        .execute(pool)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let founder = app::auth::db::upsert_email_user(&mut tx, "founder@bench.example", true)
        .await
        .unwrap();
    let society = new_society(&mut tx, &founder, "club", "Bench Club").await;
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status)
         select $1, user_id, 'member', 'approved' from bench_members",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "update booking_rules set max_active = 500, max_per_week = 100, opens_days = 60
          where society_id = $1",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .unwrap();
    let admin = lock_as_admin(&mut tx, society, founder.id).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    let mut sessions = Vec::with_capacity(ONE_OFFS);
    for i in 0..ONE_OFFS {
        let day = today + chrono::Duration::days(2 + (i % 9) as i64);
        let start = NaiveTime::from_hms_opt(6, 0, 0).unwrap()
            + chrono::Duration::minutes(40 * (i / 9) as i64);
        sessions.push(one_off(&mut tx, &admin, &format!("Drop-in {i}"), 1000, day, start).await);
    }
    let rush = one_off(
        &mut tx,
        &admin,
        "Taster",
        RUSH_SEATS,
        today + chrono::Duration::days(3),
        NaiveTime::from_hms_opt(21, 30, 0).unwrap(),
    )
    .await;
    sessions.truncate(LOAD_SESSIONS);
    sqlx::query(
        "create table bench_sessions as
         select (k - 1)::int as k, id from unnest($1::uuid[]) with ordinality as s(id, k)",
    )
    .bind(sessions.iter().map(|s| s.0).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("alter table bench_sessions add primary key (k)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Club {
        society,
        sessions: Arc::new(sessions),
        rush,
        founder,
    }
}

async fn new_society(
    conn: &mut sqlx::PgConnection,
    founder: &app::access::CurrentUser,
    slug: &str,
    name: &str,
) -> SocietyId {
    let creator = require_platform_admin(founder).unwrap();
    app::societies::db::create(
        conn,
        &creator,
        app::societies::NewSociety {
            name: name.into(),
            slug: slug.into(),
            time_zone: "Europe/Berlin".into(),
        },
    )
    .await
    .unwrap()
    .id
}

async fn one_off(
    conn: &mut sqlx::PgConnection,
    admin: &SocietyAdmin,
    title: &str,
    capacity: i32,
    day: NaiveDate,
    start: NaiveTime,
) -> OccurrenceId {
    let created = events::create(
        conn,
        admin,
        NewEvent {
            details: EventDetails {
                title: title.into(),
                description: String::new(),
                location: "Hall".into(),
                capacity,
                duration_minutes: 30,
                category: None,
                trainers: vec![],
            },
            start_date: day,
            start_time: start,
            weekly: None,
        },
    )
    .await
    .unwrap();
    created.occurrence_ids[0]
}

/// Signs members `0..count` in, 16 at a time; their cookies in member order.
async fn sign_in_members(pool: &PgPool, addr: SocketAddr, count: usize) -> Vec<String> {
    const AT_ONCE: usize = 16;
    let mut workers = Vec::new();
    for worker in 0..AT_ONCE {
        let pool = pool.clone();
        workers.push(tokio::spawn(async move {
            let mut cookies = Vec::new();
            for member in (worker..count).step_by(AT_ONCE) {
                let client = format!("bench-{member}");
                let cookie = support::sign_in_from(&pool, addr, &email(member), &client).await;
                cookies.push((member, cookie));
            }
            cookies
        }));
    }
    let mut all = Vec::with_capacity(count);
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    all.sort();
    all.into_iter().map(|(_, cookie)| cookie).collect()
}

/// Books `requests` new pairs from `concurrency` clients: request `i` books member
/// `(first + i) % members` into session `(first + i) % sessions`. Returns the time taken and
/// every latency; anything but 201 stops the benchmark.
async fn book_load(
    addr: SocketAddr,
    cookies: &Arc<Vec<String>>,
    sessions: &Arc<Vec<OccurrenceId>>,
    first: usize,
    requests: usize,
    concurrency: usize,
) -> (Duration, Vec<Duration>) {
    if first + requests > cookies.len() * sessions.len() {
        abort("the load ran out of unused (member, session) pairs");
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let url = format!("http://{addr}/api/v1/bookings");
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (client, url) = (client.clone(), url.clone());
        let (cookies, sessions) = (cookies.clone(), sessions.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(requests / concurrency + 1);
            for i in (worker..requests).step_by(concurrency) {
                let pair = first + i;
                let body = format!(
                    r#"{{"occurrence_id":"{}"}}"#,
                    sessions[pair % sessions.len()].0
                );
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header("cookie", &cookies[pair % cookies.len()])
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if status != StatusCode::CREATED {
                    abort(&format!("POST /api/v1/bookings answered {status}: {text}"));
                }
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    (elapsed, all)
}

/// What autovacuum does between runs (this server may run without it): without it the 199
/// session rows, updated by every booking, bloat and each run would start slower than the
/// one before.
async fn vacuum(pool: &PgPool) {
    sqlx::raw_sql("vacuum analyze").execute(pool).await.unwrap();
}

async fn count_bookings(pool: &PgPool, society: SocietyId) -> i64 {
    sqlx::query_scalar("select count(*) from bookings where society_id = $1")
        .bind(society)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn section_1(
    scratch: &Scratch,
    pool: &PgPool,
    addr: SocketAddr,
    club: &Club,
    cookies: &Arc<Vec<String>>,
) {
    let logs = std::env::temp_dir().join(format!("{}-pgbench", scratch.name));
    std::fs::create_dir_all(&logs).unwrap();
    let script: PathBuf = logs.join("booking.sql");
    std::fs::write(&script, PGBENCH_SCRIPT).unwrap();
    println!(
        "\n1. POST /api/v1/bookings, {BOOKINGS_PER_RUN} requests per run, each a new (member, \
         session) pair of {SIGNED_IN} signed-in members and {LOAD_SESSIONS} sessions of 1,000 \
         spots;\n   pgbench (-M prepared -j 2 -T {PGBENCH_SECONDS}) runs the domain's SQL of one \
         booking (13 statements, begin to commit) for members {SIGNED_IN}..{MEMBERS}"
    );
    println!(
        "{:<8} {:>10} {:>8} {:>8} {:>8} {:>12} {:>8} {:>8} {:>8} {:>12}",
        "clients",
        "http req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "pgbench tps",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "http/pgbench"
    );
    // Warm-up (connections, prepared statements), outside the timing.
    let mut next = 0;
    book_load(addr, cookies, &club.sessions, next, 64, 16).await;
    next += 64;
    let mut summary = Vec::new();
    for (run, clients) in [16, 64].into_iter().enumerate() {
        vacuum(pool).await;
        let before = count_bookings(pool, club.society).await;
        let (elapsed, latencies) = book_load(
            addr,
            cookies,
            &club.sessions,
            next,
            BOOKINGS_PER_RUN,
            clients,
        )
        .await;
        next += BOOKINGS_PER_RUN;
        let http = BOOKINGS_PER_RUN as f64 / elapsed.as_secs_f64();
        let after_http = count_bookings(pool, club.society).await;
        if after_http - before != BOOKINGS_PER_RUN as i64 {
            abort(&format!(
                "{BOOKINGS_PER_RUN} bookings answered 201, {} written",
                after_http - before
            ));
        }
        vacuum(pool).await;
        let url = scratch.url.clone();
        let (script, logs_dir) = (script.clone(), logs.clone());
        let bench = tokio::task::spawn_blocking(move || {
            pgbench(&url, &script, &logs_dir, clients, run * PAIR_SPACE_HALF)
        })
        .await
        .unwrap();
        let after_pgbench = count_bookings(pool, club.society).await;
        if after_pgbench - after_http != bench.transactions as i64 {
            abort(&format!(
                "pgbench processed {} transactions, {} bookings written",
                bench.transactions,
                after_pgbench - after_http
            ));
        }
        let h = |p: f64| support::percentile_ms(&latencies, p);
        let g = |p: f64| support::percentile_ms(&bench.latencies, p);
        println!(
            "{:<8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>12.0} {:>8.2} {:>8.2} {:>8.2} {:>11.2}×",
            clients,
            http,
            h(0.50),
            h(0.95),
            h(0.99),
            bench.tps,
            g(0.50),
            g(0.95),
            g(0.99),
            http / bench.tps
        );
        summary.push((clients, http / bench.tps, h(0.99)));
        support::figure(
            &format!("POST /api/v1/bookings at {clients} clients"),
            "≥ 0.7× pgbench",
            &format!("{http:.0} req/s, p99 {:.1} ms", h(0.99)),
            &format!(
                "pgbench (Roster's own statements) {:.0} tps: {:.2}×",
                bench.tps,
                http / bench.tps
            ),
        );
        if clients == 64 {
            support::figure(
                "POST /api/v1/bookings p99 at 64 clients",
                "≤ 50 ms",
                &format!("{:.1} ms", h(0.99)),
                &format!("pgbench p99 {:.1} ms: {:.1}×", g(0.99), h(0.99) / g(0.99)),
            );
        }
    }
    for (clients, ratio, p99) in summary {
        println!(
            "{clients} clients: http/pgbench {ratio:.2}× (target ≥ 0.70×: {}), http p99 {p99:.1} ms \
             (target ≤ 50 ms: {})",
            verdict(ratio >= 0.7),
            verdict(p99 <= 50.0)
        );
    }
    let _ = std::fs::remove_dir_all(&logs);
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

async fn section_2(scratch: &Scratch, pool: &PgPool, club: &Club, cookies: &Arc<Vec<String>>) {
    println!(
        "\n2. Rush: {RUSH} distinct signed-in members book one {RUSH_SEATS}-seat session at \
         once, round-robin over {RUSH_SERVERS} servers\n   (three routers, each with its own \
         pool of {} connections: three servers sharing one database)",
        pool_size(scratch)
    );
    let mut servers = Vec::new();
    for _ in 0..RUSH_SERVERS {
        servers.push(start_server(scratch, None).await);
    }
    if cookies.len() < RUSH {
        abort("fewer signed-in members than the rush needs");
    }
    let client = reqwest::Client::new();
    let body = format!(r#"{{"occurrence_id":"{}"}}"#, club.rush.0);
    let (go, ready) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(RUSH);
    for (member, cookie) in cookies.iter().take(RUSH).enumerate() {
        let addr = servers[member % RUSH_SERVERS].0;
        let request = client
            .post(format!("http://{addr}/api/v1/bookings"))
            .header("cookie", cookie)
            .header("content-type", "application/json")
            .body(body.clone());
        let mut ready = ready.clone();
        tasks.push(tokio::spawn(async move {
            ready.wait_for(|go| *go).await.unwrap();
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let answer: serde_json::Value = response.json().await.unwrap_or_default();
                    (status, answer)
                }
                Err(e) => (
                    StatusCode::BAD_GATEWAY,
                    serde_json::json!({ "error": e.to_string() }),
                ),
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    go.send(true).unwrap();
    let mut answers = Vec::with_capacity(RUSH);
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let mut positions = std::collections::HashMap::new();
    let (mut confirmed, mut waitlisted, mut errors) = (0, 0, Vec::new());
    for (status, answer) in &answers {
        if *status != StatusCode::CREATED {
            errors.push(format!("{status}: {answer}"));
            continue;
        }
        match answer["status"].as_str() {
            Some("confirmed") => confirmed += 1,
            Some("waitlisted") => {
                waitlisted += 1;
                positions.insert(
                    answer["id"].as_str().unwrap_or_default().to_string(),
                    answer["waitlist_position"].as_i64(),
                );
            }
            _ => errors.push(format!("{status}: {answer}")),
        }
    }
    let queue: Vec<(uuid::Uuid,)> = sqlx::query_as(
        "select id from bookings where occurrence_id = $1 and status = 'waitlisted'
          order by queue_number",
    )
    .bind(club.rush)
    .fetch_all(pool)
    .await
    .unwrap();
    let in_order = queue.len() == RUSH - RUSH_SEATS as usize
        && queue
            .iter()
            .enumerate()
            .all(|(i, (id,))| positions.get(&id.to_string()) == Some(&Some(i as i64 + 1)));
    let (seats, waiting): (i32, i32) =
        sqlx::query_as("select confirmed_count, waitlisted_count from occurrences where id = $1")
            .bind(club.rush)
            .fetch_one(pool)
            .await
            .unwrap();
    println!("confirmed        {confirmed}");
    println!("waitlisted       {waitlisted}");
    println!(
        "positions        {} (the 201 answers' waitlist_position, in queue_number order)",
        if in_order {
            format!("exactly 1..{} in queue order", RUSH - RUSH_SEATS as usize)
        } else {
            "NOT 1..990 in queue order".to_string()
        }
    );
    println!("errors (non-201) {}", errors.len());
    println!("counters         confirmed_count {seats}, waitlisted_count {waiting}");
    println!(
        "elapsed          {:.2} s from the first request sent to the last answer ({:.0} bookings/s)",
        elapsed.as_secs_f64(),
        RUSH as f64 / elapsed.as_secs_f64()
    );
    support::figure(
        &format!(
            "rush: {RUSH} members book one {RUSH_SEATS}-seat session over {RUSH_SERVERS} servers"
        ),
        "≥ 1,000 bookings/s",
        &format!("{:.0} bookings/s", RUSH as f64 / elapsed.as_secs_f64()),
        &format!(
            "{errors} errors, waitlist in order: {in_order}",
            errors = errors.len()
        ),
    );
    for (_, own_pool, serve) in servers {
        serve.abort();
        own_pool.close().await;
    }
    if confirmed != RUSH_SEATS
        || waitlisted != RUSH - RUSH_SEATS as usize
        || !errors.is_empty()
        || !in_order
        || (seats, waiting) != (RUSH_SEATS, waitlisted as i32)
    {
        for e in errors.iter().take(5) {
            eprintln!("  {e}");
        }
        abort(&format!(
            "the rush gave {confirmed} spots, {waitlisted} waitlist places, {} errors \
             (expected {RUSH_SEATS}/{}/0 with positions 1..{} in order)",
            errors.len(),
            RUSH - RUSH_SEATS as usize,
            RUSH - RUSH_SEATS as usize
        ));
    }
}
