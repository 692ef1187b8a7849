//! Notification benchmark.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p server --bench notifications
//!
//! Seeds a scratch database: the society `club` (Europe/Berlin) with 10,000 members, 100
//! sessions starting 20 to 23 hours from now with 100 confirmed bookings each (made a day
//! ago, so each booking's 24-hour reminder is due), and 100 sessions three days ahead for
//! the booking load. Starts the local SMTP capture server (`end2end/support/smtp_capture.py`)
//! and one Roster server whose job worker sends through it.
//!
//! 1. 10,000 reminder emails: the reminder job (`sessions.reminders`) runs once; the time it
//!    takes, then the time until the worker has sent all 10,000 (dispatch, render, SMTP),
//!    with the captured mail counted by Message-ID: duplicates and lost ones.
//! 2. Booking latency with and without the worker delivering: 16 tasks book 4,000 distinct
//!    (member, session) pairs through the domain (lock the booker, book, commit), first with
//!    the worker idle, then while it delivers 10,000 more notifications: p50/p99 of both.
//! 3. The queue alone: 10,000 no-op jobs run by two workers of concurrency 4 on one pool
//!    (each records its run): jobs/s, and that each ran exactly once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::access::lock_as_admin;
use app::events::{db as events, EventDetails, NewEvent};
use app::ids::{OccurrenceId, SocietyId, UserId};
use chrono::{Duration as Span, Utc};
use server::config::MailConfig;
use sqlx::PgPool;
use support::Scratch;

#[path = "support/mod.rs"]
mod support;

const MEMBERS: i32 = 10_000;
const REMINDER_SESSIONS: usize = 100;
const LOAD_SESSIONS: usize = 100;
const BOOKINGS_PER_RUN: usize = 4_000;
const CLIENTS: usize = 16;

struct Smtp {
    dir: PathBuf,
    child: Child,
    port: u16,
}

impl Smtp {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("roster-bench-smtp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../end2end/support/smtp_capture.py"
        );
        let mut child = Command::new("python3")
            // Each message written but not fsynced: the benchmark measures Roster's sending,
            // not this capture server's disk.
            .args([script, "--no-fsync", "--port", "0", "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (see .ci/lib.sh) runs the capture server");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("capture server said {line:?}"));
        Self { dir, child, port }
    }

    /// Captured messages and how many distinct Message-IDs they carry.
    fn count(&self) -> (usize, usize) {
        let mut ids = HashSet::new();
        let mut total = 0;
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "eml") {
                total += 1;
                let raw = std::fs::read_to_string(&path).unwrap_or_default();
                if let Some(id) = raw.lines().find_map(|l| l.strip_prefix("Message-ID: ")) {
                    ids.insert(id.to_string());
                }
            }
        }
        (total, ids.len())
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_server(scratch: &Scratch, smtp_port: u16) -> (SocketAddr, PgPool) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = scratch.config(addr, false);
    config.mail = MailConfig::Smtp(format!("smtp://127.0.0.1:{smtp_port}").into());
    config.job_concurrency = concurrency();
    let pool = server::connect(&config).await.unwrap();
    support::serve(&config, pool.clone(), listener).await;
    (addr, pool)
}

/// The worker's concurrency: `JOB_CONCURRENCY`, else Roster's default (4).
fn concurrency() -> usize {
    std::env::var("JOB_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(4)
}

struct Seeded {
    society: SocietyId,
    members: Arc<Vec<UserId>>,
    load_sessions: Arc<Vec<OccurrenceId>>,
}

async fn seed(pool: &PgPool) -> Seeded {
    support::seed_members(pool, MEMBERS).await;
    let mut tx = pool.begin().await.unwrap();
    let (founder, society) = support::bench_club(&mut tx).await;
    let society = society.id;
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status)
         select $1, id, 'member', 'approved' from users where subject like 'member-%'",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .unwrap();
    let admin = lock_as_admin(&mut tx, society, founder.id).await.unwrap();
    let zone = chrono_tz::Europe::Berlin;
    let mut new_session = async |title: String, at: chrono::DateTime<Utc>, capacity: i32| {
        let local = at.with_timezone(&zone).naive_local();
        let created = events::create(
            &mut tx,
            &admin,
            NewEvent {
                details: EventDetails {
                    title,
                    description: String::new(),
                    location: "Hall".into(),
                    capacity,
                    duration_minutes: 30,
                    category: None,
                    trainers: vec![],
                },
                start_date: local.date(),
                start_time: local.time(),
                weekly: None,
            },
        )
        .await
        .unwrap();
        created.occurrence_ids[0]
    };
    let now = Utc::now();
    let mut reminder_sessions = Vec::new();
    for i in 0..REMINDER_SESSIONS {
        let at = now + Span::hours(20) + Span::minutes(2 * i as i64);
        reminder_sessions.push(new_session(format!("Early ergo {i}"), at, 200).await);
    }
    let mut load_sessions = Vec::new();
    for i in 0..LOAD_SESSIONS {
        let at = now + Span::days(3) + Span::minutes(30 * i as i64);
        load_sessions.push(new_session(format!("Drop-in {i}"), at, 1000).await);
    }
    // Member n has a spot (booked a day ago) in reminder session n / 100.
    sqlx::query(
        "insert into bookings (society_id, occurrence_id, user_id, status, created_at, confirmed_at)
         select $1, ($2::uuid[])[1 + (m.n / 100)], m.id, 'confirmed', now() - interval '1 day', now() - interval '1 day'
           from (select id, row_number() over (order by subject) - 1 as n
                   from users where subject like 'member-%') m",
    )
    .bind(society)
    .bind(reminder_sessions.iter().map(|s| s.0).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let members: Vec<UserId> =
        sqlx::query_scalar("select id from users where subject like 'member-%' order by subject")
            .fetch_all(pool)
            .await
            .unwrap();
    sqlx::query("vacuum analyze").execute(pool).await.unwrap();
    Seeded {
        society,
        members: Arc::new(members),
        load_sessions: Arc::new(load_sessions),
    }
}

async fn sent(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from notification_deliveries where status = 'sent'")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn wait_for_sent(pool: &PgPool, target: i64, limit: Duration) -> Duration {
    let started = Instant::now();
    while sent(pool).await < target {
        if started.elapsed() > limit {
            eprintln!(
                "notifications benchmark: only {} of {target} sent after {limit:?}",
                sent(pool).await
            );
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// Books members `first..first + BOOKINGS_PER_RUN` (member p into load session p % 100) from
/// `CLIENTS` tasks; every latency.
async fn book_load(pool: &PgPool, s: &Seeded, first: usize) -> (Duration, Vec<Duration>) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let pool = pool.clone();
        let members = s.members.clone();
        let sessions = s.load_sessions.clone();
        let society = s.society;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for p in (first + client..first + BOOKINGS_PER_RUN).step_by(CLIENTS) {
                let t = Instant::now();
                let mut tx = pool.begin().await.unwrap();
                let now = Utc::now();
                let booker = app::bookings::db::lock_booker(&mut tx, society, members[p], now)
                    .await
                    .unwrap();
                app::bookings::db::book(&mut tx, &booker, sessions[p % LOAD_SESSIONS], now)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    (started.elapsed(), all)
}

#[tokio::main]
async fn main() {
    let scratch = Scratch::create("roster_bench_notify").await;
    let smtp = Smtp::start();
    let (_addr, pool) = start_server(&scratch, smtp.port).await;
    let t = Instant::now();
    let s = seed(&pool).await;
    println!(
        "seeded {MEMBERS} members with a due reminder each in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 1. 10,000 reminders.
    let started = Instant::now();
    let queued = app::bookings::db::queue_reminders(&pool, Utc::now())
        .await
        .unwrap();
    let job = started.elapsed();
    let delivered = wait_for_sent(&pool, queued as i64, Duration::from_secs(900)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (captured, distinct) = smtp.count();
    let total = job + delivered;
    println!(
        "\n1. reminder emails through the SMTP capture server (one server, job concurrency {})",
        concurrency()
    );
    println!(
        "   reminder job: {queued} queued in {:.2} s",
        job.as_secs_f64()
    );
    println!(
        "   all sent {:.1} s after the job ({:.0} mails/s); {:.1} s in all",
        delivered.as_secs_f64(),
        queued as f64 / delivered.as_secs_f64(),
        total.as_secs_f64()
    );
    println!(
        "   captured {captured}, distinct Message-IDs {distinct}: {} duplicates, {} lost",
        captured - distinct,
        queued as usize - distinct.min(queued as usize)
    );
    support::figure(
        &format!("{queued} reminder emails to the local SMTP server"),
        "≤ 30 s, 0 duplicates, 0 lost",
        &format!(
            "{:.1} s ({} duplicates, {} lost)",
            total.as_secs_f64(),
            captured - distinct,
            queued as usize - distinct.min(queued as usize)
        ),
        &format!("{:.0} mails/s", queued as f64 / delivered.as_secs_f64()),
    );

    // 2. Booking latency, worker idle vs delivering.
    let (idle_time, idle) = book_load(&pool, &s, 0).await;
    // 10,000 more notifications (the promotion kind, which goes by email by default).
    sqlx::query(
        "insert into notification_outbox (society_id, recipient_id, kind, payload)
         select $1, id, 'booking.promoted', jsonb_build_object('title', 'Drop-in', 'starts_at', now() + interval '3 days')
           from users where subject like 'member-%'",
    )
    .bind(s.society)
    .execute(&pool)
    .await
    .unwrap();
    // Book once the worker is busy sending them.
    let flowing = sent(&pool).await + 200;
    wait_for_sent(&pool, flowing, Duration::from_secs(300)).await;
    let before = sent(&pool).await;
    let (busy_time, busy) = book_load(&pool, &s, BOOKINGS_PER_RUN).await;
    let during = sent(&pool).await - before;
    let p = support::percentile_ms;
    println!("\n2. booking latency ({BOOKINGS_PER_RUN} bookings from {CLIENTS} tasks, through the domain)");
    println!(
        "   worker idle:       p50 {:6.2} ms  p99 {:6.2} ms  ({:.0} bookings/s)",
        p(&idle, 0.5),
        p(&idle, 0.99),
        BOOKINGS_PER_RUN as f64 / idle_time.as_secs_f64()
    );
    println!(
        "   worker delivering: p50 {:6.2} ms  p99 {:6.2} ms  ({:.0} bookings/s; {during} mails sent meanwhile)",
        p(&busy, 0.5),
        p(&busy, 0.99),
        BOOKINGS_PER_RUN as f64 / busy_time.as_secs_f64()
    );
    println!(
        "   p99 ratio delivering / idle: {:.2}",
        p(&busy, 0.99) / p(&idle, 0.99)
    );
    support::figure(
        "booking p99 while mail flows",
        "≤ 1.1× idle",
        &format!("{:.2} ms", p(&busy, 0.99)),
        &format!(
            "idle {:.2} ms: {:.2}×",
            p(&idle, 0.99),
            p(&busy, 0.99) / p(&idle, 0.99)
        ),
    );
    wait_for_sent(
        &pool,
        queued as i64 + MEMBERS as i64,
        Duration::from_secs(900),
    )
    .await;
    queue_alone(&pool).await;
    pool.close().await;
    drop(smtp);
    scratch.drop().await;
}

async fn queue_alone(pool: &PgPool) {
    use app::jobs::worker::{self, JobError, JobResult, Registry, WorkerConfig};
    const JOBS: i64 = 10_000;
    sqlx::query("create table bench_runs (job_id bigint not null)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("insert into jobs (kind) select 'bench.noop' from generate_series(1, $1)")
        .bind(JOBS)
        .execute(pool)
        .await
        .unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let mut workers = Vec::new();
    for name in ["bench-1", "bench-2"] {
        let registry =
            Registry::<PgPool>::default().on("bench.noop", |pool: PgPool, job| async move {
                sqlx::query("insert into bench_runs values ($1)")
                    .bind(job.id)
                    .execute(&pool)
                    .await
                    .map_err(|e| JobError::Retry(e.to_string()))?;
                JobResult::Ok(())
            });
        let mut rx = rx.clone();
        workers.push(tokio::spawn(worker::run(
            pool.clone(),
            registry,
            pool.clone(),
            WorkerConfig::new(name, 4),
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        )));
    }
    loop {
        let done: i64 = sqlx::query_scalar(
            "select count(*) from jobs where kind = 'bench.noop' and status = 'done'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if done == JOBS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    stop.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let (runs, distinct): (i64, i64) =
        sqlx::query_as("select count(*), count(distinct job_id) from bench_runs")
            .fetch_one(pool)
            .await
            .unwrap();
    println!("\n3. the queue alone ({JOBS} no-op jobs, two workers of concurrency 4)");
    println!(
        "   {:.1} s, {:.0} jobs/s; {runs} runs of {distinct} distinct jobs",
        took.as_secs_f64(),
        JOBS as f64 / took.as_secs_f64()
    );
    support::figure(
        &format!("queue: {JOBS} no-op jobs"),
        "≥ 2,000 jobs/s",
        &format!("{:.0} jobs/s", JOBS as f64 / took.as_secs_f64()),
        &format!("{runs} runs of {distinct} jobs"),
    );
}
