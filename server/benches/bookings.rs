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
//!    latency percentiles of both, and the ratio.
//! 2. A rush: 1,000 distinct members book the 10-seat session at once, round-robin over three
//!    servers (three routers, each with its own pool) on the one database: confirmed and
//!    waitlisted counts, whether the waitlist positions are 1..990 in queue order, errors.
//! 3. The week calendar and a session page (live counts) for a signed-in member of `weekly`
//!    at 10,000 and at 1,000,000 bookings (bulk-loaded, counters recomputed): percentiles at
//!    each size and the ratio.

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

mod support;

const MEMBERS: i32 = 10_000;
/// Members signed in through the email link (their cookies book in sections 1 and 2).
const SIGNED_IN: usize = 1_000;
const ONE_OFFS: usize = 200;
/// Sessions the HTTP load books: a count prime to `SIGNED_IN`, so that request `p` books
/// member `p % 1000` into session `p % 199` and no pair comes twice below 199,000 requests.
const LOAD_SESSIONS: usize = 199;
const BOOKINGS_PER_RUN: usize = 4_000;
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
const PAGE_REQUESTS: usize = 1_000;
const PAGE_CONCURRENCY: usize = 16;
/// The place on the chosen session's list (0-based) of the member who views the pages: past
/// the 90 spots, so at 1,000,000 bookings they are on its waitlist.
const VIEWER_PLACE: i64 = 93;

#[tokio::main]
async fn main() {
    let scratch = Scratch::create("roster_bench_bookings").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = scratch.config(addr, false);
    let pool = server::connect(&config).await.unwrap();
    let seeded = Instant::now();
    let club = seed_club(&pool).await;
    println!(
        "Roster booking benchmark (seeded {MEMBERS} members, {ONE_OFFS} one-off sessions and a \
         {RUSH_SEATS}-seat one in {:.1} s; db_max_connections = {} per server)",
        seeded.elapsed().as_secs_f64(),
        config.db_max_connections
    );
    let router = server::build(&config, pool.clone(), leptos_options())
        .await
        .unwrap();
    let serve = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
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
    scratch.drop().await;
}

fn leptos_options() -> leptos::prelude::LeptosOptions {
    leptos::prelude::LeptosOptions::builder()
        .output_name("roster")
        .build()
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

/// What the seed made in `club`, and the founder's proof for `weekly`.
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
    sqlx::query(
        "insert into users (issuer, subject, email, email_verified, name)
         select 'roster:email', 'member-' || i || '@bench.example', 'member-' || i || '@bench.example', true,
                'Member ' || i from generate_series(1, $1) as i",
    )
    .bind(MEMBERS)
    .execute(pool)
    .await
    .unwrap();
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

/// The SQL of one `POST /api/v1/bookings` (from `begin` to `commit`), as
/// `app/src/bookings/db`, `app/src/audit/db.rs` and `app/src/notifications/db.rs` send it for
/// a member with a spot. Transaction `i` of client `c` books member
/// `first + t % pool` into session `t % sessions` with `t = base + i * clients + c`: no pair
/// twice, and clients running side by side book different members and sessions, like the
/// HTTP load. Differences: the first statement (`society_of`) also reads the two ids from the
/// bench tables; the week bounds the domain computes in Rust come from the locking statement;
/// the JSON the domain builds in Rust is built in SQL; a waitlist place's position query (the
/// sessions have 1,000 spots) is not there.
const PGBENCH_SCRIPT: &str = r#"\set i :i + 1
\set t :base + :i * :clients + :client_id
\set m :first + :t % :pool
\set k :t % :sessions
begin;
select o.society_id as society, o.id as occ, m.user_id as uid
  from bench_sessions s join occurrences o on o.id = s.id cross join bench_members m
 where s.k = :k and m.n = :m \gset
select status from memberships where society_id = :society and user_id = :uid for no key update;
select m.status, s.time_zone,
       (select max(b.ends_at) from booking_bans b
         where b.society_id = :society and b.user_id = :uid and b.lifted_at is null
           and b.starts_at <= now() and b.ends_at > now()) as ban_ends,
       (select max(b.strikes) from booking_bans b
         where b.society_id = :society and b.user_id = :uid and b.lifted_at is null
           and b.starts_at <= now() and b.ends_at > now()) as ban_strikes
  from memberships m join societies s on s.id = m.society_id
 where m.society_id = :society and m.user_id = :uid;
select r.opens_days, r.closes_minutes, r.free_cancel_hours, r.strike_limit,
       r.strike_window_days, r.ban_days, r.max_active, r.max_per_week, s.time_zone
  from booking_rules r join societies s on s.id = r.society_id
 where r.society_id = :society;
select r.opens_days, r.closes_minutes, r.free_cancel_hours, r.strike_limit,
       r.strike_window_days, r.ban_days, r.max_active, r.max_per_week, s.time_zone
  from booking_rules r join societies s on s.id = r.society_id
 where r.society_id = :society;
select e.title, o.starts_at, o.capacity, o.confirmed_count, o.status = 'cancelled' as cancelled,
       o.confirmed_count < o.capacity as has_spot,
       date_trunc('week', o.starts_at at time zone 'Europe/Berlin') at time zone 'Europe/Berlin' as week_start,
       (date_trunc('week', o.starts_at at time zone 'Europe/Berlin') + interval '7 days') at time zone 'Europe/Berlin' as week_end
  from occurrences o join events e on e.id = o.event_id
 where o.id = :occ and o.society_id = :society
   for no key update of o \gset
select id, status, queue_number from bookings
 where occurrence_id = :occ and user_id = :uid and status in ('confirmed', 'waitlisted');
select count(*) filter (where o.starts_at > now()) as active,
       count(*) filter (where o.starts_at >= :week_start and o.starts_at < :week_end) as week
  from bookings b join occurrences o on o.id = b.occurrence_id
 where b.user_id = :uid and b.society_id = :society and b.status in ('confirmed', 'waitlisted')
   and b.enrolment_id is null and not b.walk_in and o.status = 'scheduled'
   and (o.starts_at > now() or (o.starts_at >= :week_start and o.starts_at < :week_end));
insert into bookings (society_id, occurrence_id, user_id, status, queue_number,
                      confirmed_at, booked_by, enrolment_id, walk_in, reason, created_at,
                      attendance, attendance_at, attendance_by)
values (:society, :occ, :uid,
        (case when :has_spot::boolean then 'confirmed' else 'waitlisted' end)::booking_status,
        case when not :has_spot::boolean then nextval('bookings_queue_number_seq') end,
        case when :has_spot::boolean then now() end, null, null, false, '', now(),
        null, null, null)
returning id as booking_id, queue_number \gset
insert into audit_log (society_id, actor_id, action, subject_id, details)
values (:society, :uid,
        (case when :has_spot::boolean then 'booking.confirmed' else 'booking.waitlisted' end)::audit_action,
        :uid,
        jsonb_build_object('occurrence_id', :occ::uuid, 'title', :title::text,
                           'starts', to_char(:starts_at::timestamptz at time zone 'Europe/Berlin', 'YYYY-MM-DD HH24:MI'),
                           'booking_id', :booking_id::uuid, 'waitlist_position', null));
insert into notification_outbox (society_id, recipient_id, kind, payload)
values (:society, :uid,
        case when :has_spot::boolean then 'booking.confirmed' else 'booking.waitlisted' end,
        jsonb_build_object('occurrence_id', :occ::uuid, 'title', :title::text,
                           'starts', to_char(:starts_at::timestamptz at time zone 'Europe/Berlin', 'YYYY-MM-DD HH24:MI'),
                           'booking_id', :booking_id::uuid, 'waitlist_position', null));
commit;
"#;

/// What one pgbench run reported.
struct Pgbench {
    tps: f64,
    transactions: usize,
    /// Sorted latencies from the per-transaction log.
    latencies: Vec<Duration>,
}

/// Runs the booking script for `PGBENCH_SECONDS` from `clients` connections, starting its
/// pairs at `base`; the per-transaction logs go to `logs`.
fn pgbench(url: &str, script: &Path, logs: &Path, clients: usize, base: usize) -> Pgbench {
    let bin = std::env::var("PGBENCH").unwrap_or_else(|_| "pgbench".into());
    let prefix = format!("c{clients}");
    let output = std::process::Command::new(&bin)
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &clients.to_string()])
        .args(["-T", &PGBENCH_SECONDS.to_string()])
        .args(["-D", "i=0", "-D", &format!("base={base}")])
        .args(["-D", &format!("clients={clients}")])
        .args(["-D", &format!("first={SIGNED_IN}")])
        .args(["-D", &format!("pool={PGBENCH_MEMBERS}")])
        .args(["-D", &format!("sessions={LOAD_SESSIONS}")])
        .arg("-f")
        .arg(script)
        .arg("-l")
        .arg(format!("--log-prefix={}", logs.join(&prefix).display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| abort(&format!("cannot run {bin}: {e} (set PGBENCH)")));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        abort(&format!(
            "pgbench -c {clients} failed ({}):\n{stdout}\n{stderr}",
            output.status
        ));
    }
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| abort(&format!("pgbench printed no '{name}':\n{stdout}")))
            .to_string()
    };
    let tps: f64 = field("tps = ").parse().unwrap();
    let transactions: usize = field("number of transactions actually processed: ")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let failed = field("number of failed transactions: ");
    if failed != "0" {
        abort(&format!("pgbench -c {clients}: {failed} failed transactions"));
    }
    let mut latencies = Vec::with_capacity(transactions);
    let mut most_per_client = 0;
    for entry in std::fs::read_dir(logs).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with(&format!("{prefix}.")) {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            most_per_client = most_per_client.max(fields[1].parse::<usize>().unwrap() + 1);
            latencies.push(Duration::from_micros(fields[2].parse().unwrap()));
        }
        std::fs::remove_file(&path).unwrap();
    }
    if latencies.len() != transactions {
        abort(&format!(
            "pgbench -c {clients}: {} logged transactions, {transactions} reported",
            latencies.len()
        ));
    }
    if base + (most_per_client + 1) * clients > (base / PAIR_SPACE_HALF + 1) * PAIR_SPACE_HALF {
        abort(&format!(
            "pgbench -c {clients} ran out of its unused (member, session) pairs"
        ));
    }
    latencies.sort();
    Pgbench {
        tps,
        transactions,
        latencies,
    }
}

/// pgbench's pairs are unique below `PGBENCH_MEMBERS * LOAD_SESSIONS` (coprime); each of the
/// two runs gets half.
const PAIR_SPACE_HALF: usize = PGBENCH_MEMBERS * LOAD_SESSIONS / 2;

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
        scratch.config("127.0.0.1:0".parse().unwrap(), false).db_max_connections
    );
    let mut servers = Vec::new();
    for _ in 0..RUSH_SERVERS {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = scratch.config(addr, false);
        let own_pool = server::connect(&config).await.unwrap();
        let router = server::build(&config, own_pool.clone(), leptos_options())
            .await
            .unwrap();
        let serve = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        servers.push((addr, own_pool, serve));
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

/// The society `weekly`: every member approved, `SERIES` weekly series (each on one weekday,
/// so 100 sessions a week) from 52 weeks ago for `WEEKS` weeks, written in bulk, numbered in
/// `bench_weekly` in start order.
async fn seed_weekly(pool: &PgPool, founder: &app::access::CurrentUser) -> SocietyId {
    let mut tx = pool.begin().await.unwrap();
    let society = new_society(&mut tx, founder, "weekly", "Weekly Club").await;
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status)
         select $1, user_id, 'member', 'approved' from bench_members",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .unwrap();
    let start = this_monday() - chrono::Duration::weeks(52);
    let days = WEEKS * 7 - 1;
    sqlx::query(
        "insert into events (society_id, title, capacity, duration_minutes, time_zone, start_date,
                             start_time, weekdays, interval_weeks, until_date, last_date, generated_until)
         select $1, 'Series ' || k, $2, 60, 'Europe/Berlin', $3::date, make_time(7 + k / 7, 0, 0),
                array[1 + k % 7]::smallint[], 1, $3::date + $4, $3::date + $4, $3::date + $4
           from generate_series(0, $5 - 1) as k",
    )
    .bind(society)
    .bind(SERIES_CAPACITY)
    .bind(start)
    .bind(days)
    .bind(SERIES)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "insert into occurrences (society_id, event_id, series_date, starts_at, ends_at, capacity)
         select e.society_id, e.id, d::date, (d::date + e.start_time) at time zone 'Europe/Berlin',
                (d::date + e.start_time) at time zone 'Europe/Berlin' + interval '60 minutes', e.capacity
           from events e
          cross join generate_series($2::date, $2::date + $3, interval '1 day') as d
          where e.society_id = $1 and extract(isodow from d) = e.weekdays[1]",
    )
    .bind(society)
    .bind(start)
    .bind(days)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "create table bench_weekly as
         select (row_number() over (order by starts_at, id) - 1)::int as k, id, society_id, starts_at
           from occurrences where society_id = $1",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("alter table bench_weekly add primary key (k)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    society
}

/// Writes the `weekly` bookings numbered `from..to`: booking `b` is place `j = b / sessions`
/// on session `k = b % sessions`, held by member `(7k + 101j) % 10,000` (different members on
/// one session, as 101 is prime to 10,000); places past the capacity are waitlisted. The
/// counter trigger is off during the load (it would update the session row once per booking)
/// and the counters are recomputed in one statement instead, all in one transaction.
async fn load_bookings(pool: &PgPool, society: SocietyId, sessions: i64, from: i64, to: i64) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("alter table bookings disable trigger bookings_count")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "insert into bookings (society_id, occurrence_id, user_id, status, queue_number, confirmed_at, created_at)
         select s.society_id, s.id, m.user_id,
                case when p.j < $4 then 'confirmed' else 'waitlisted' end::booking_status,
                case when p.j >= $4 then nextval('bookings_queue_number_seq') end,
                case when p.j < $4 then least(now(), s.starts_at - interval '7 days') + p.j * interval '1 second' end,
                least(now(), s.starts_at - interval '7 days') + p.j * interval '1 second'
           from generate_series($1::bigint, $2::bigint - 1) as b
          cross join lateral (select (b % $3)::int as k, b / $3 as j) as p
           join bench_weekly s on s.k = p.k
           join bench_members m on m.n = (p.k * 7 + p.j * 101) % $5",
    )
    .bind(from)
    .bind(to)
    .bind(sessions)
    .bind(i64::from(SERIES_CAPACITY))
    .bind(i64::from(MEMBERS))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "update occurrences o set confirmed_count = c.confirmed, waitlisted_count = c.waitlisted
           from (select occurrence_id,
                        count(*) filter (where status = 'confirmed' and not walk_in) as confirmed,
                        count(*) filter (where status = 'waitlisted') as waitlisted
                   from bookings where society_id = $1 group by occurrence_id) as c
          where o.id = c.occurrence_id",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("alter table bookings enable trigger bookings_count")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("analyze").execute(pool).await.unwrap();
}

async fn section_3(scratch: &Scratch, pool: &PgPool, club: &Club) {
    let seeding = Instant::now();
    let society = seed_weekly(pool, &club.founder).await;
    let sessions: i64 = sqlx::query_scalar("select count(*) from bench_weekly")
        .fetch_one(pool)
        .await
        .unwrap();
    let next_monday = this_monday() + chrono::Duration::days(7);
    // The first session of next week, and the member with place `VIEWER_PLACE` on it.
    let (session, k): (uuid::Uuid, i32) = sqlx::query_as(
        "select id, k from bench_weekly
          where starts_at >= ($1::date::timestamp at time zone 'Europe/Berlin')
          order by k limit 1",
    )
    .bind(next_monday)
    .fetch_one(pool)
    .await
    .unwrap();
    if i64::from(k) + VIEWER_PLACE * sessions >= LARGE {
        abort("the viewer's place is past the 1,000,000 bookings");
    }
    let viewer = ((i64::from(k) * 7 + VIEWER_PLACE * 101) % i64::from(MEMBERS)) as usize;
    println!(
        "\n3. Pages for a signed-in member of `weekly` ({SERIES} weekly series × {WEEKS} weeks = \
         {sessions} sessions of {SERIES_CAPACITY} spots, seeded in {:.1} s); {PAGE_REQUESTS} \
         requests each, {PAGE_CONCURRENCY} clients",
        seeding.elapsed().as_secs_f64()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = scratch.config(addr, false);
    let router = server::build(&config, pool.clone(), leptos_options())
        .await
        .unwrap();
    let serve = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let cookie = support::sign_in_from(pool, addr, &email(viewer), "bench-viewer").await;
    let week = format!("/s/weekly/calendar?view=week&date={next_monday}");
    let page = format!("/s/weekly/sessions/{session}");
    println!(
        "{:<12} {:<14} {:>12} {:>8} {:>8} {:>8} {:>8} {:>10}",
        "bookings", "page", "in table", "req/s", "p50 ms", "p95 ms", "p99 ms", "shown"
    );
    let mut results = Vec::new();
    let mut loaded = 0;
    for size in [SMALL, LARGE] {
        let loading = Instant::now();
        load_bookings(pool, society, sessions, loaded, size).await;
        loaded = size;
        let load_secs = loading.elapsed().as_secs_f64();
        let total: i64 = sqlx::query_scalar("select count(*) from bookings")
            .fetch_one(pool)
            .await
            .unwrap();
        let mine: i64 = sqlx::query_scalar(
            "select count(*) from bookings where society_id = $1 and user_id = (select user_id from bench_members where n = $2)",
        )
        .bind(society)
        .bind(viewer as i32)
        .fetch_one(pool)
        .await
        .unwrap();
        println!(
            "  ({size} bookings in `weekly` loaded in {load_secs:.1} s; the viewer holds {mine} of them)"
        );
        for (name, path) in [("week view", &week), ("session page", &page)] {
            let request = support::Request {
                post: false,
                path: path.clone(),
                cookie: Some(cookie.clone()),
                brotli: false,
            };
            let (elapsed, mut latencies, body) =
                support::load(addr, request, PAGE_REQUESTS, PAGE_CONCURRENCY).await;
            latencies.sort();
            let pct = |p: f64| support::percentile_ms(&latencies, p);
            let shown = if name == "week view" {
                let n = body.matches("data-testid=\"session\"").count();
                if n != SERIES as usize {
                    abort(&format!("the week view shows {n} sessions, not {SERIES}"));
                }
                format!("{n} sess.")
            } else {
                format!("{} KB", body.len() / 1024)
            };
            println!(
                "{:<12} {:<14} {:>12} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>10}",
                size,
                name,
                total,
                PAGE_REQUESTS as f64 / elapsed.as_secs_f64(),
                pct(0.50),
                pct(0.95),
                pct(0.99),
                shown
            );
            results.push((pct(0.50), pct(0.99)));
        }
    }
    for (i, name) in ["week view", "session page"].into_iter().enumerate() {
        let (small, large) = (results[i], results[i + 2]);
        let (p50, p99) = (large.0 / small.0, large.1 / small.1);
        println!(
            "{name}: 1,000,000 ÷ 10,000 bookings = {p50:.2}× at p50, {p99:.2}× at p99 \
             (target ≤ 1.5×: {})",
            verdict(p50 <= 1.5 && p99 <= 1.5)
        );
    }
    serve.abort();
}
