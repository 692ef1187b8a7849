//! A server killed (SIGKILL) mid-load and mid-delivery: three servers book, serve pages and
//! send mail through a slow mail server; one of them dies while it holds jobs and sends mail.
//! No acknowledged write is lost, its jobs run again on the others after the visibility
//! timeout, no mail goes out twice, and people who signed in through it stay signed in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::ids::UserId;
use app::notifications::NotificationKind;
use tokio::sync::watch;

use crate::load::{self, Load};
use crate::support::*;

const VISIBILITY_SECS: u64 = 6;
const MEMBERS: usize = 30;
const SESSIONS: usize = 20;
const CLIENTS: usize = 9;
/// Mail queued before the kill (4 to each member), sent through a mail server that takes
/// `SMTP_DELAY_MS` to accept each.
const MAILS_PER_MEMBER: usize = 4;
const SMTP_DELAY_MS: u64 = 400;

pub async fn run(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let db = ctx.cluster.create_database("drill_kill").await?;
    let smtp = Smtp::start(ctx, report, "kill-smtp", SMTP_DELAY_MS)?;
    let visibility = VISIBILITY_SECS.to_string();
    let config = with(
        settings(&smtp),
        &[("ROSTER_JOB_VISIBILITY_SECS", visibility.as_str())],
    );
    let mut servers = Vec::new();
    for name in ["kill-a", "kill-b", "kill-c"] {
        servers.push(Server::start(ctx, report, name, &db, &config).await?);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let victim_worker = servers[0].worker();
    let pool = pool(&db).await?;
    let club = seed_club(&pool, "kill", SESSIONS, 1000).await?;
    // Everyone signs in through the server that will die.
    let members = members(&pool, &club, "m", MEMBERS, &bases[..1]).await?;
    report.figure(
        "set-up",
        format!(
            "3 servers (ROSTER_JOB_VISIBILITY_SECS={VISIBILITY_SECS}, 4 jobs at once each), {MEMBERS} members \
             signed in through kill-a, a mail server taking {SMTP_DELAY_MS} ms per message"
        ),
    );

    let started = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = load::start(
        Load {
            servers: bases.clone(),
            members: Arc::new(members.clone()),
            sessions: Arc::new(club.sessions.clone()),
            slug: club.slug.clone(),
            retry_for: Duration::from_secs(30),
        },
        CLIENTS,
        stop_rx,
        started,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let mut tx = pool.begin().await.ctx("begin")?;
        for _ in 0..MAILS_PER_MEMBER {
            for m in &members {
                app::notifications::db::enqueue(
                    &mut tx,
                    club.society,
                    UserId(m.id),
                    NotificationKind::MembershipApproved,
                    serde_json::json!({}),
                )
                .await
                .map_err(|e| format!("enqueue: {e}"))?;
            }
        }
        tx.commit().await.ctx("commit")?;
    }
    let mails = MEMBERS * MAILS_PER_MEMBER;
    // Kill it while it holds delivery jobs.
    let holding = wait_until(Duration::from_secs(20), || async {
        held_deliveries(&pool, &victim_worker).await >= 2
    })
    .await;
    servers[0].kill();
    let killed_at = started.elapsed();
    let kill_clock = Instant::now();
    let held: Vec<(i64, String)> = sqlx::query_as(
        "select id, kind from jobs where status = 'running' and locked_by = $1 order by id",
    )
    .bind(&victim_worker)
    .fetch_all(&pool)
    .await
    .ctx("the jobs it held")?;
    let sending: i64 =
        sqlx::query_scalar("select count(*) from notification_deliveries where status = 'sending'")
            .fetch_one(&pool)
            .await
            .unwrap_or(-1);
    report.figure(
        "killed kill-a",
        format!(
            "at {:.1} s, holding {} jobs ({}); {} deliveries were being sent (by all servers)",
            killed_at.as_secs_f64(),
            held.len(),
            held.iter()
                .map(|(id, kind)| format!("{id} {kind}"))
                .collect::<Vec<_>>()
                .join(", "),
            sending
        ),
    );
    report.check(
        holding.is_some() && held.iter().any(|(_, k)| k == "notification.deliver"),
        "it was killed mid-delivery (it held delivery jobs)",
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_tx.send_replace(true);
    let results = running.finish().await;

    // Its jobs run again elsewhere once their claim expires.
    let ids: Vec<i64> = held.iter().map(|(id, _)| *id).collect();
    let rerun = wait_until(
        Duration::from_secs(VISIBILITY_SECS + 20),
        || async {
            let left: i64 = sqlx::query_scalar(
                "select count(*) from jobs where id = any($1) and (status in ('queued', 'running') or locked_by = $2)",
            )
            .bind(&ids)
            .bind(&victim_worker)
            .fetch_one(&pool)
            .await
            .unwrap_or(-1);
            left == 0
        },
    )
    .await;
    let after_kill = rerun.map(|_| kill_clock.elapsed());
    let outcome: Vec<(i64, String, Option<String>, i32)> = sqlx::query_as(
        "select id, status::text, locked_by, attempts from jobs where id = any($1) order by id",
    )
    .bind(&ids)
    .fetch_all(&pool)
    .await
    .ctx("the jobs' outcome")?;
    report.figure(
        "its jobs",
        outcome
            .iter()
            .map(|(id, status, by, attempts)| {
                format!(
                    "{id}: {status} by {} (attempt {attempts})",
                    by.as_deref().unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    );
    report.check(
        after_kill.is_some_and(|d| d >= Duration::from_secs(VISIBILITY_SECS) / 2)
            && outcome.iter().all(|(_, status, by, attempts)| {
                status == "done" && by.as_deref() != Some(victim_worker.as_str()) && *attempts >= 2
            }),
        format!(
            "its claimed jobs ran again on another server after the visibility timeout ({VISIBILITY_SECS} s): all done {}",
            after_kill
                .map(|d| format!("{} after the kill", secs(d)))
                .unwrap_or_else(|| "NOT within the deadline".into())
        ),
    );

    // Every delivery settles; none is sent twice.
    let settled = wait_until(Duration::from_secs(40), || async {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from notification_deliveries d join notification_outbox o on o.id = d.outbox_id
              where o.society_id = $1 and d.status in ('queued', 'sending', 'failed')",
        )
        .bind(club.society)
        .fetch_one(&pool)
        .await
        .unwrap_or(-1);
        open == 0
    })
    .await;
    let deliveries: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "select d.id, d.status::text, d.last_error from notification_deliveries d
           join notification_outbox o on o.id = d.outbox_id
          where o.society_id = $1 and d.channel = 'email'",
    )
    .bind(club.society)
    .fetch_all(&pool)
    .await
    .ctx("deliveries")?;
    let by_status: BTreeMap<String, usize> =
        deliveries.iter().fold(BTreeMap::new(), |mut m, (_, s, _)| {
            *m.entry(s.clone()).or_insert(0) += 1;
            m
        });
    let captured = smtp.message_ids();
    let mut times: HashMap<&str, usize> = HashMap::new();
    for id in &captured {
        *times.entry(id.as_str()).or_insert(0) += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    let message_id = |id: i64| format!("<roster.delivery.{id}@drill.example>");
    let captured_set: HashSet<&str> = captured.iter().map(String::as_str).collect();
    let sent_missing: Vec<i64> = deliveries
        .iter()
        .filter(|(id, s, _)| s == "sent" && !captured_set.contains(message_id(*id).as_str()))
        .map(|(id, _, _)| *id)
        .collect();
    let in_doubt: Vec<&(i64, String, Option<String>)> = deliveries
        .iter()
        .filter(|(_, s, e)| s == "dead" && e.as_deref().is_some_and(|e| e.starts_with("in doubt")))
        .collect();
    let in_doubt_captured = in_doubt
        .iter()
        .filter(|(id, _, _)| captured_set.contains(message_id(*id).as_str()))
        .count();
    report.figure(
        "deliveries",
        format!(
            "{mails} mails queued: {} (settled {}); captured by the mail server: {} messages",
            counts(&by_status),
            settled
                .map(|d| format!("all {} after its jobs ran again", secs(d)))
                .unwrap_or_else(|| "NOT within 40 s".into()),
            captured.len()
        ),
    );
    report.figure(
        "in doubt",
        format!(
            "{} (a worker died while sending: dead, not sent again; {} of them had reached the mail server)",
            in_doubt.len(),
            in_doubt_captured
        ),
    );
    report.check(
        twice.is_empty(),
        format!(
            "no mail sent twice ({} Message-IDs captured, {} of them more than once)",
            captured.len(),
            twice.len()
        ),
    );
    report.check(
        settled.is_some() && sent_missing.is_empty(),
        format!(
            "every delivery settled and each one marked sent reached the mail server ({} sent but not captured)",
            sent_missing.len()
        ),
    );
    report.check(
        deliveries.len() == mails
            && by_status.get("sent").copied().unwrap_or(0) + in_doubt.len() == mails,
        format!(
            "every mail was sent, or is dead in doubt because its sender died mid-send ({} deliveries)",
            deliveries.len()
        ),
    );

    // The requests it was answering when it died.
    let cut: BTreeMap<String, usize> = results
        .samples
        .iter()
        .filter(|s| {
            s.server == 0
                && s.at + s.latency >= killed_at
                && !s.outcome.starts_with(char::is_numeric)
        })
        .fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s.outcome.clone()).or_insert(0) += 1;
            m
        });
    report.figure("requests to kill-a after", counts(&cut));
    report.figure(
        "load before the kill",
        counts(&load::tally(&results.samples, Duration::ZERO, killed_at)),
    );
    report.figure(
        "load after the kill",
        counts(&load::tally(&results.samples, killed_at, Duration::MAX)),
    );
    let wrong = load::wrong_answers(&results.samples);
    report.check(
        wrong.is_empty(),
        format!(
            "every answer was 2xx, or 429/503 with Retry-After ({} others{})",
            wrong.len(),
            wrong
                .first()
                .map(|w| format!("; first: {w}"))
                .unwrap_or_default()
        ),
    );
    report.check(
        results.unanswered.is_empty(),
        format!(
            "every booking was answered 201 in the end, retried on another server ({} not)",
            results.unanswered.len()
        ),
    );
    load::check_acked(report, &pool, club.society.0, &results, 0).await;

    // Sessions live in PostgreSQL: who signed in through kill-a is still signed in elsewhere.
    let client = http();
    let mut valid = 0;
    let mut problems = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let base = &bases[1 + i % 2];
        match whoami(&client, base, &m.cookie).await {
            Ok(Some(email)) if email == m.email => valid += 1,
            other => problems.push(format!("{}: {other:?}", m.email)),
        }
    }
    report.check(
        problems.is_empty(),
        format!(
            "sign-ins made through kill-a are valid on kill-b and kill-c ({valid} of {}{})",
            members.len(),
            problems
                .first()
                .map(|p| format!("; first problem: {p}"))
                .unwrap_or_default()
        ),
    );
    for server in &servers[1..] {
        report.note(format!("{} logged:", server.name));
        for (line, n) in log_summary(&server.log) {
            report.note(format!("  ×{n:<3} {line}"));
        }
    }
    pool.close().await;
    Ok(())
}

/// How many delivery jobs `worker` runs now.
async fn held_deliveries(pool: &sqlx::PgPool, worker: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from jobs where status = 'running' and locked_by = $1 and kind = 'notification.deliver'",
    )
    .bind(worker)
    .fetch_one(pool)
    .await
    .unwrap_or(0)
}
