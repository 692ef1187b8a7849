//! Calendar benchmark.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p server --bench calendar
//!
//! 1. The main pages rendered on the server, for a society with 10,000 members and 50
//!    sessions a week (ten weekly series on five weekdays, each with its trainer, made through
//!    the domain): the week, agenda and month views, a session page and My bookings for a
//!    member, a session page with its roster for its trainer, and the member directory and
//!    approval queue for the admin, each from `CONCURRENCY` clients, next to `/healthz` in
//!    the same run: throughput, latency percentiles, CPU per request (the process's, with its
//!    clients) and the ratio of each p99 to `/healthz`'s.
//! 2. The calendar's week query (the domain call the page makes) as the occurrences table
//!    grows to 100 societies × 2 years of sessions (520,000 rows): percentiles at each size.

use std::time::Instant;

use app::access::lock_as_admin;
use app::bookings::db as bookings;
use app::events::{db as events, EventDetails, NewEvent, SeriesEnd, Weekly};
use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use sqlx::PgPool;
use support::Scratch;

mod support;

const MEMBERS: i32 = 10_000;
const REQUESTS: usize = 3_000;
const CONCURRENCY: usize = 16;
const QUERY_RUNS: usize = 300;
/// The signed-in member whose browser loads the pages (members 1 to 10 are the trainers).
const MEMBER_EMAIL: &str = "member-100@bench.example";
/// A trainer: their session's page shows its roster.
const TRAINER_EMAIL: &str = "member-1@bench.example";
/// The society's founder and admin (`support::bench_club`).
const ADMIN_EMAIL: &str = "founder@bench.example";
/// Members booked into the trainer's session (the member above among them), and people
/// waiting for approval.
const BOOKED: i32 = 10;
const APPLICANTS: i32 = 20;

#[tokio::main]
async fn main() {
    let scratch = Scratch::create("roster_bench_calendar").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = scratch.config(addr, false);
    let pool = server::connect(&config).await.unwrap();
    let seeded = Instant::now();
    let monday = this_monday();
    seed_club(&pool, monday).await;
    println!(
        "Roster calendar benchmark (seeded {MEMBERS} members and 10 weekly series in {:.1} s)",
        seeded.elapsed().as_secs_f64()
    );
    let serve = support::serve(&config, pool.clone(), listener).await;
    let member = support::sign_in(&pool, addr, MEMBER_EMAIL).await;
    let trainer = support::sign_in(&pool, addr, TRAINER_EMAIL).await;
    let admin = support::sign_in(&pool, addr, ADMIN_EMAIL).await;
    let session = taught_session(&pool).await;

    println!("\n1. Pages rendered on the server: {REQUESTS} requests each, {CONCURRENCY} concurrent clients");
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "request", "req/s", "p50 ms", "p95 ms", "p99 ms", "CPU ms/req"
    );
    let week = format!(
        "/s/club/calendar?view=week&date={}",
        monday + chrono::Duration::days(7)
    );
    let session_page = format!("/s/club/sessions/{}", session.0);
    let pages = [
        ("GET /healthz", "/healthz".to_string(), None),
        ("week view (member, 50 sessions)", week, Some(&member)),
        (
            "agenda (member, 4 weeks)",
            "/s/club/calendar?view=agenda".to_string(),
            Some(&member),
        ),
        (
            "month view (member)",
            "/s/club/calendar?view=month".to_string(),
            Some(&member),
        ),
        (
            "session page (member, booked)",
            session_page.clone(),
            Some(&member),
        ),
        (
            "My bookings (member)",
            "/my-bookings".to_string(),
            Some(&member),
        ),
        (
            "session page with roster (its trainer)",
            session_page,
            Some(&trainer),
        ),
        (
            "member directory (admin, 10,000)",
            "/s/club/members".to_string(),
            Some(&admin),
        ),
        (
            "approval queue (admin, 20 waiting)",
            "/s/club/requests".to_string(),
            Some(&admin),
        ),
    ];
    let mut healthz = (0.0, 0.0);
    for (i, (name, path, cookie)) in pages.into_iter().enumerate() {
        let request = support::Request {
            post: false,
            path,
            cookie: cookie.cloned(),
            brotli: false,
        };
        let cpu = support::cpu_time();
        let (elapsed, mut latencies, _) = support::load(addr, request, REQUESTS, CONCURRENCY).await;
        let cpu_ms = (support::cpu_time() - cpu).as_secs_f64() * 1e3 / REQUESTS as f64;
        latencies.sort();
        let pct = |p: f64| support::percentile_ms(&latencies, p);
        let rate = REQUESTS as f64 / elapsed.as_secs_f64();
        println!(
            "{:<44} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>9.2}",
            name,
            rate,
            pct(0.50),
            pct(0.95),
            pct(0.99),
            cpu_ms
        );
        if i == 0 {
            healthz = (pct(0.99), rate);
            continue;
        }
        support::figure(
            &format!("{name}: p99 at {CONCURRENCY} clients"),
            "≤ 20 ms",
            &format!(
                "{:.1} ms ({cpu_ms:.1} ms CPU a request, clients included)",
                pct(0.99)
            ),
            &format!(
                "/healthz p99 {:.1} ms: {:.1}×",
                healthz.0,
                pct(0.99) / healthz.0
            ),
        );
        if i == 1 {
            support::figure(
                &format!("week view: throughput at {CONCURRENCY} clients"),
                "≥ 1,500 req/s",
                &format!("{rate:.0} req/s"),
                &format!("/healthz {:.0} req/s: {:.2}×", healthz.1, rate / healthz.1),
            );
        }
    }
    serve.abort();

    println!("\n2. Week query (one society, one week) as the occurrences table grows; {QUERY_RUNS} runs, one client");
    println!(
        "{:<12} {:>12} {:>8} {:>8} {:>8} {:>8}",
        "societies", "occurrences", "rows", "p50 ms", "p95 ms", "p99 ms"
    );
    let start = monday - chrono::Duration::weeks(52);
    let mut filled = 0;
    for target in [1, 10, 50, 100] {
        fill_societies(&pool, filled, target, start).await;
        filled = target;
        sqlx::query("analyze occurrences")
            .execute(&pool)
            .await
            .unwrap();
        let total: i64 = sqlx::query_scalar("select count(*) from occurrences")
            .fetch_one(&pool)
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("update societies set calendar_public = true where slug = 'filler-1'")
            .execute(&mut *conn)
            .await
            .unwrap();
        let place = app::access::read_in_society(&mut conn, "filler-1", None)
            .await
            .unwrap();
        let reader = events::calendar_reader(&place).unwrap();
        let from = monday + chrono::Duration::weeks(20);
        let mut latencies = Vec::with_capacity(QUERY_RUNS);
        let mut rows = 0;
        for _ in 0..QUERY_RUNS {
            let t = Instant::now();
            rows = events::sessions(
                &mut conn,
                &reader,
                from,
                from + chrono::Duration::days(7),
                Default::default(),
            )
            .await
            .unwrap()
            .len();
            latencies.push(t.elapsed());
        }
        latencies.sort();
        let pct = |p: f64| support::percentile_ms(&latencies, p);
        println!(
            "{:<12} {:>12} {:>8} {:>8.3} {:>8.3} {:>8.3}",
            target,
            total,
            rows,
            pct(0.50),
            pct(0.95),
            pct(0.99)
        );
    }
    pool.close().await;
    scratch.drop().await;
}

/// The trainer's next session, with `BOOKED` members booked into it (through the domain) and,
/// for the approval queue, `APPLICANTS` people waiting.
async fn taught_session(pool: &PgPool) -> app::ids::OccurrenceId {
    let (society, session): (app::ids::SocietyId, app::ids::OccurrenceId) = sqlx::query_as(
        "select o.society_id, o.id from occurrences o
           join occurrence_trainers t on t.occurrence_id = o.id
           join users u on u.id = t.trainer_id
          where u.email = $1 and o.starts_at > now() + interval '1 day'
          order by o.starts_at limit 1",
    )
    .bind(TRAINER_EMAIL)
    .fetch_one(pool)
    .await
    .unwrap();
    let now = chrono::Utc::now();
    for i in 100..100 + BOOKED {
        let user: app::ids::UserId = sqlx::query_scalar("select id from users where email = $1")
            .bind(format!("member-{i}@bench.example"))
            .fetch_one(pool)
            .await
            .unwrap();
        let mut tx = pool.begin().await.unwrap();
        let booker = bookings::lock_booker(&mut tx, society, user, now)
            .await
            .unwrap();
        bookings::book(&mut tx, &booker, session, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    sqlx::query(
        "with applicants as (
             insert into users (issuer, subject, email, email_verified, name)
             select 'roster:email', 'applicant-' || i || '@bench.example', 'applicant-' || i || '@bench.example',
                    true, 'Applicant ' || i from generate_series(1, $2) as i
             returning id)
         insert into memberships (society_id, user_id, role, status)
         select $1, id, 'member', 'pending' from applicants",
    )
    .bind(society)
    .bind(APPLICANTS)
    .execute(pool)
    .await
    .unwrap();
    session
}

fn this_monday() -> NaiveDate {
    let today = chrono::Utc::now().date_naive();
    today - chrono::Duration::days(today.weekday().num_days_from_monday().into())
}

/// The society `club`: `MEMBERS` approved members, ten trainers, and ten weekly series on
/// Monday to Friday (50 sessions a week) made through the domain, as its admin would.
async fn seed_club(pool: &PgPool, monday: NaiveDate) {
    support::seed_members(pool, MEMBERS).await;
    let mut tx = pool.begin().await.unwrap();
    let (founder, society) = support::bench_club(&mut tx).await;
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status)
         select $1, id, case when subject = any($2) then 'trainer'::membership_role else 'member' end, 'approved'
           from users where subject like 'member-%'",
    )
    .bind(society.id)
    .bind((1..=10).map(|i| format!("member-{i}@bench.example")).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .unwrap();
    let trainers: Vec<app::ids::UserId> = sqlx::query_scalar(
        "select user_id from memberships where society_id = $1 and role = 'trainer' order by user_id limit 10",
    )
    .bind(society.id)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let admin = lock_as_admin(&mut tx, society.id, founder.id)
        .await
        .unwrap();
    for (i, trainer) in trainers.iter().enumerate() {
        events::create(
            &mut tx,
            &admin,
            NewEvent {
                details: EventDetails {
                    title: format!("Series {i}"),
                    description: String::new(),
                    location: "Boathouse".into(),
                    capacity: 12,
                    duration_minutes: 60,
                    category: None,
                    trainers: vec![*trainer],
                },
                start_date: monday,
                start_time: NaiveTime::from_hms_opt(7 + i as u32, 0, 0).unwrap(),
                weekly: Some(Weekly {
                    weekdays: vec![
                        Weekday::Mon,
                        Weekday::Tue,
                        Weekday::Wed,
                        Weekday::Thu,
                        Weekday::Fri,
                    ],
                    interval: 1,
                    end: SeriesEnd::Count(250),
                }),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Societies `filler-(from+1)` to `filler-to`, each with ten weekly series on weekdays for two
/// years from `start` (5,200 occurrences each), written directly (bulk).
async fn fill_societies(pool: &PgPool, from: i32, to: i32, start: NaiveDate) {
    sqlx::query(
        "insert into societies (slug, name, time_zone)
         select 'filler-' || i, 'Filler ' || i, 'Europe/Berlin' from generate_series($1 + 1, $2) as i",
    )
    .bind(from)
    .bind(to)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into events (society_id, title, capacity, duration_minutes, time_zone, start_date, start_time,
                             weekdays, interval_weeks, until_date, last_date, generated_until)
         select s.id, 'Session ' || k, 12, 60, 'Europe/Berlin', $3::date, make_time(7 + k, 0, 0),
                '{1,2,3,4,5}', 1, $3::date + 727, $3::date + 727, $3::date + 727
           from societies s cross join generate_series(0, 9) as k
          where s.slug in (select 'filler-' || i from generate_series($1 + 1, $2) as i)",
    )
    .bind(from)
    .bind(to)
    .bind(start)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into occurrences (society_id, event_id, series_date, starts_at, ends_at, capacity)
         select e.society_id, e.id, d::date, (d::date + e.start_time) at time zone 'Europe/Berlin',
                (d::date + e.start_time) at time zone 'Europe/Berlin' + interval '60 minutes', 12
           from events e
           join societies s on s.id = e.society_id
          cross join generate_series($3::date, $3::date + 727, interval '1 day') as d
          where s.slug in (select 'filler-' || i from generate_series($1 + 1, $2) as i)
            and extract(isodow from d) <= 5",
    )
    .bind(from)
    .bind(to)
    .bind(start)
    .execute(pool)
    .await
    .unwrap();
}
