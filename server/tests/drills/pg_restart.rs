//! Postgres restarted mid-load: three servers book and serve pages while PostgreSQL stops for
//! a few seconds and starts again. The servers recover by themselves: `/readyz` goes 503
//! then 200, every acknowledged booking is in the database once, live counts flow again and
//! the job worker sends mail again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::ids::UserId;
use app::notifications::NotificationKind;
use reqwest::StatusCode;
use tokio::sync::watch;

use crate::load::{self, Load};
use crate::stream;
use crate::support::*;

const SERVERS: [&str; 3] = ["pg-a", "pg-b", "pg-c"];
const MEMBERS: usize = 40;
const SESSIONS: usize = 20;
const CLIENTS: usize = 9;
/// How long Postgres stays down.
const OUTAGE: Duration = Duration::from_secs(4);
/// A server must be ready again within this long of Postgres accepting connections.
const RECOVERY_LIMIT: Duration = Duration::from_secs(15);

pub async fn run(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let db = ctx.cluster.create_database("drill_pg").await?;
    report.log("postgres", &ctx.cluster.log());
    let smtp = Smtp::start(ctx, report, "pg-smtp", 0)?;
    let mut servers = Vec::new();
    for name in SERVERS {
        servers.push(Server::start(ctx, report, name, &db, &settings(&smtp)).await?);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let pool = pool(&db).await?;
    let club = seed_club(&pool, "harbour", SESSIONS, 1000).await?;
    let members = members(&pool, &club, "m", MEMBERS + 1, &bases).await?;
    let (late, members) = members.split_last().ctx("members")?;
    let watched = *club.sessions.last().ctx("sessions")?;

    let started = Instant::now();
    // Each server's /readyz, ten times a second.
    let (stop_tx, stop_rx) = watch::channel(false);
    let probes: Vec<_> = bases
        .iter()
        .map(|base| {
            let (url, stop) = (format!("{base}/readyz"), stop_rx.clone());
            let seen: Arc<Mutex<Vec<(Duration, String)>>> = Arc::default();
            let record = seen.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(3))
                    .build()
                    .expect("client");
                while !*stop.borrow() {
                    let at = started.elapsed();
                    let answer = client.get(&url).send().await.map(|r| r.status());
                    record
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((at, label(&answer)));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            seen
        })
        .collect();
    // A page following the watched session's spots on server b, reconnecting as browsers do.
    let follower = stream::follow(
        format!("{}/s/{}/live?ids={watched}", bases[1], club.slug),
        members[0].cookie.clone(),
        started,
        true,
    );
    let running = load::start(
        Load {
            servers: bases.clone(),
            members: Arc::new(members.to_vec()),
            sessions: Arc::new(club.sessions[..SESSIONS - 1].to_vec()),
            slug: club.slug.clone(),
            retry_for: Duration::from_secs(45),
        },
        CLIENTS,
        stop_rx.clone(),
        started,
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = running.acked();

    let cluster = ctx.cluster.clone();
    let down_at = started.elapsed();
    tokio::task::spawn_blocking(move || cluster.stop_server())
        .await
        .ctx("pg_ctl stop")??;
    let stopped_at = started.elapsed();
    tokio::time::sleep(OUTAGE).await;
    let cluster = ctx.cluster.clone();
    tokio::task::spawn_blocking(move || cluster.start_server())
        .await
        .ctx("pg_ctl start")??;
    let up_at = started.elapsed();
    report.figure(
        "load",
        format!(
            "{CLIENTS} clients over {} servers: a booking (REST, Idempotency-Key, retried every 250 ms \
             on the next server until 201) and a page each round; {MEMBERS} members, {} sessions",
            SERVERS.len(),
            SESSIONS - 1
        ),
    );
    report.figure(
        "Postgres",
        format!(
            "stop (-m fast) at {:.1} s (down at {:.1} s), started again at {:.1} s ({} without it)",
            down_at.as_secs_f64(),
            stopped_at.as_secs_f64(),
            up_at.as_secs_f64(),
            secs(up_at - down_at)
        ),
    );

    // Every server ready again, then some more load.
    let all_ready = wait_until(RECOVERY_LIMIT + Duration::from_secs(5), || async {
        probes.iter().all(|p| {
            p.lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|(at, s)| *at > up_at && s == "200")
        })
    })
    .await;
    let after_recovery = running.acked();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recovered_load = running.acked() - after_recovery;

    // Live counts flow again: a booking now shows on the page following that session.
    let client = http();
    let mut booked = false;
    for _ in 0..40 {
        let r = client
            .post(format!("{}/api/v1/bookings", bases[0]))
            .header("cookie", &late.cookie)
            .header("idempotency-key", "drill-late")
            .json(&serde_json::json!({ "occurrence_id": watched }))
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == StatusCode::CREATED) {
            booked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let live = if booked {
        wait_until(Duration::from_secs(10), || async {
            follower.confirmed(watched) == Some(1)
        })
        .await
    } else {
        None
    };

    // The worker sends mail again.
    let recipients = &members[..6];
    {
        let mut tx = pool.begin().await.ctx("begin")?;
        for m in recipients {
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
        tx.commit().await.ctx("commit")?;
    }
    let mailed = wait_until(Duration::from_secs(20), || async {
        smtp.message_ids().len() >= recipients.len()
    })
    .await;

    stop_tx.send_replace(true);
    let results = running.finish().await;
    let (stream_opened, stream_ends) = (follower.opened(), follower.ends());
    drop(follower);

    // --- what happened -----------------------------------------------------------------
    let mut recovered_at = up_at;
    for (name, probe) in SERVERS.iter().zip(&probes) {
        let seen = probe.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let unready = seen
            .iter()
            .find(|(at, s)| *at >= down_at && s != "200")
            .map(|(at, s)| (*at, s.clone()));
        let ready = seen.iter().find(|(at, s)| *at > up_at && s == "200");
        let during: std::collections::BTreeMap<String, usize> = seen
            .iter()
            .filter(|(at, _)| *at >= down_at && *at < up_at)
            .fold(Default::default(), |mut m, (_, s)| {
                *m.entry(s.clone()).or_insert(0) += 1;
                m
            });
        if let Some((at, _)) = ready {
            recovered_at = recovered_at.max(*at);
        }
        report.figure(
            &format!("{name} /readyz"),
            format!(
                "{} {}; 200 again {} after Postgres started; while down: {}",
                unready
                    .as_ref()
                    .map(|(_, s)| s.as_str())
                    .unwrap_or("never unready"),
                unready
                    .as_ref()
                    .map(|(at, _)| format!("{:.1} s after the stop", (*at - down_at).as_secs_f64()))
                    .unwrap_or_default(),
                ready
                    .map(|(at, _)| secs(*at - up_at))
                    .unwrap_or_else(|| "NEVER".into()),
                counts(&during)
            ),
        );
        report.check(
            unready.as_ref().is_some_and(|(_, s)| s == "503"),
            format!("{name}: /readyz answered 503 while Postgres was down"),
        );
        report.check(
            ready.is_some_and(|(at, _)| *at - up_at <= RECOVERY_LIMIT),
            format!(
                "{name}: /readyz answered 200 again within {} of Postgres starting",
                secs(RECOVERY_LIMIT)
            ),
        );
    }
    let first_booking = results
        .samples
        .iter()
        .filter(|s| s.what == load::What::Booking && s.outcome == "201" && s.at >= up_at)
        .map(|s| s.at + s.latency - up_at)
        .min();
    report.figure(
        "first booking after",
        first_booking
            .map(|d| format!("{} after Postgres started (201)", secs(d)))
            .unwrap_or_else(|| "NONE".into()),
    );
    report.figure(
        "before the outage",
        counts(&load::tally(&results.samples, Duration::ZERO, down_at)),
    );
    report.figure(
        "during the outage",
        counts(&load::tally(&results.samples, down_at, recovered_at)),
    );
    report.figure(
        "after recovery",
        counts(&load::tally(&results.samples, recovered_at, Duration::MAX)),
    );
    let outage_errors: std::collections::BTreeMap<String, usize> = results
        .samples
        .iter()
        .filter(|s| s.at >= down_at && s.at < recovered_at && !s.outcome.starts_with('2'))
        .fold(Default::default(), |mut m, s| {
            let what = match s.what {
                load::What::Booking => "POST /api/v1/bookings",
                load::What::Page => "GET page",
            };
            *m.entry(format!("{what} → {} {}", s.outcome, s.detail.trim()))
                .or_insert(0) += 1;
            m
        });
    report.note("errors the clients saw during the outage:");
    for (text, n) in &outage_errors {
        report.note(format!("  ×{n:<3} {text}"));
    }
    for server in &servers {
        report.note(format!("{} logged:", server.name));
        for (line, n) in log_summary(&server.log) {
            report.note(format!("  ×{n:<3} {line}"));
        }
    }
    let latencies: Vec<Duration> = results
        .samples
        .iter()
        .filter(|s| s.at >= down_at && s.at < recovered_at)
        .map(|s| s.latency)
        .collect();
    report.figure(
        "latency while down",
        format!(
            "p50 {:.0} ms, p99 {:.0} ms (the pool waits ROSTER_DB_ACQUIRE_TIMEOUT_MS for a connection)",
            percentile_ms(&latencies, 0.5),
            percentile_ms(&latencies, 0.99)
        ),
    );
    report.figure(
        "bookings acknowledged",
        format!(
            "{} ({} before the outage, {} in the 3 s after recovery), given up: {}",
            results.acked.len(),
            before,
            recovered_load,
            results.unanswered.len()
        ),
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
            "every booking was answered 201 in the end ({} not: {:?})",
            results.unanswered.len(),
            results.unanswered.iter().take(3).collect::<Vec<_>>()
        ),
    );
    report.check(
        all_ready.is_some() && recovered_load > 0,
        format!("the servers recovered by themselves: {recovered_load} bookings in the 3 s after all were ready"),
    );
    load::check_acked(report, &pool, club.society.0, &results, i64::from(booked)).await;
    report.check(
        live.is_some(),
        format!(
            "live counts flow again: a booking after recovery reached the page on another server{} \
             (the stream was opened {stream_opened} times; ended: {:?})",
            live.map(|d| format!(" in {}", secs(d))).unwrap_or_default(),
            stream_ends
                .iter()
                .map(|(at, why)| format!("{:.1} s {why}", at.as_secs_f64()))
                .collect::<Vec<_>>()
        ),
    );
    report.check(
        mailed.is_some(),
        format!(
            "the job worker resumed: {} mails queued after recovery were sent{}",
            recipients.len(),
            mailed
                .map(|d| format!(" within {}", secs(d)))
                .unwrap_or_else(|| " (NOT within 20 s)".into())
        ),
    );
    let stuck: i64 = sqlx::query_scalar(
        "select count(*) from jobs where status = 'running' and locked_until < now()",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(-1);
    report.check(
        stuck == 0,
        format!("no job left running past its claim ({stuck})"),
    );
    pool.close().await;
    Ok(())
}
