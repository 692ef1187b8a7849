//! SIGTERM, as a rolling update sends it: `/readyz` turns 503 at once; requests are still
//! taken for `ROSTER_SHUTDOWN_DELAY_SECS`; then live streams close with a hint to reconnect,
//! requests in flight (a slow one included) finish within `ROSTER_DRAIN_TIMEOUT_SECS`, the
//! worker gives back the jobs it holds, and the process exits 0 within the grace period. A
//! client that retries refused connections on another server sees no failed request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::ids::UserId;
use app::notifications::NotificationKind;
use reqwest::StatusCode;
use tokio::sync::watch;

use crate::stream;
use crate::support::*;

const DELAY_SECS: u64 = 2;
const DRAIN_SECS: u64 = 6;
/// The grace period: the delay and the drain, and a little for the process to end.
const MARGIN: Duration = Duration::from_secs(2);
/// The mail server takes this long to accept a message: longer than the drain, so the
/// worker holds its jobs when the drain ends and must give them back.
const SMTP_DELAY_MS: u64 = 25_000;
const MAILS: usize = 4;

/// One request of the client that keeps using the stopping server.
#[derive(Debug, Clone)]
struct Sent {
    at: Duration,
    /// Who answered ("term-a", or "term-b" after a refused connection).
    by: &'static str,
    outcome: String,
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let db = ctx.cluster.create_database("drill_term").await?;
    let smtp = Smtp::start(ctx, report, "term-smtp", SMTP_DELAY_MS)?;
    let delay = DELAY_SECS.to_string();
    let drain = DRAIN_SECS.to_string();
    let stopping = with(
        settings(&smtp),
        &[
            ("ROSTER_SHUTDOWN_DELAY_SECS", delay.as_str()),
            ("ROSTER_DRAIN_TIMEOUT_SECS", drain.as_str()),
        ],
    );
    let mut a = Server::start(ctx, report, "term-a", &db, &stopping).await?;
    let b = Server::start(
        ctx,
        report,
        "term-b",
        &db,
        &with(settings(&smtp), &[("ROSTER_JOB_CONCURRENCY", "0")]),
    )
    .await?;
    let pool = pool(&db).await?;
    let club = seed_club(&pool, "term", 10, 1000).await?;
    let members = members(&pool, &club, "m", 12, &[a.base.clone(), b.base.clone()]).await?;
    // The retrying client books in another society: the slow request's lock holds this one.
    let other = seed_club(&pool, "term-two", 30, 1000).await?;
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status)
         select $1, id, 'member', 'approved' from unnest($2::uuid[]) as t(id)",
    )
    .bind(other.society)
    .bind(members.iter().map(|m| m.id).collect::<Vec<_>>())
    .execute(&pool)
    .await
    .ctx("memberships")?;
    let admin = sign_in_email(&pool, &a.base, &club.founder, "drill-founder").await?;
    report.figure(
        "set-up",
        format!(
            "term-a (ROSTER_SHUTDOWN_DELAY_SECS={DELAY_SECS}, ROSTER_DRAIN_TIMEOUT_SECS={DRAIN_SECS}, the only job worker) \
             and term-b; a mail server taking {} s per message",
            SMTP_DELAY_MS / 1000
        ),
    );

    // term-a's worker holds delivery jobs: mail to a slow mail server.
    {
        let mut tx = pool.begin().await.ctx("begin")?;
        for m in &members[..MAILS] {
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
    let worker = a.worker();
    let holding = wait_until(Duration::from_secs(15), || async {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from jobs where status = 'running' and locked_by = $1 and kind = 'notification.deliver'",
        )
        .bind(&worker)
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
        n == MAILS as i64
    })
    .await;
    let held: Vec<(i64, i32)> = sqlx::query_as(
        "select id, attempts from jobs where status = 'running' and locked_by = $1 order by id",
    )
    .bind(&worker)
    .fetch_all(&pool)
    .await
    .ctx("held jobs")?;
    report.check(
        holding.is_some(),
        format!(
            "term-a's worker holds {MAILS} delivery jobs before SIGTERM (it holds {} jobs)",
            held.len()
        ),
    );

    let started = Instant::now();
    // A page following a session's spots on term-a.
    let follower = stream::follow(
        format!("{}/s/{}/live?ids={}", a.base, club.slug, club.sessions[0]),
        members[0].cookie.clone(),
        started,
        false,
    );
    let streaming = wait_until(Duration::from_secs(10), || async {
        !follower.events().is_empty()
    })
    .await;
    report.check(streaming.is_some(), "a live stream on term-a is open");

    // A slow request: the admin's settings change waits behind a row lock held here.
    let mut blocker = pool.begin().await.ctx("begin")?;
    sqlx::query("select id from societies where id = $1 for update")
        .bind(club.society)
        .execute(&mut *blocker)
        .await
        .ctx("locking the society")?;
    let slow = {
        let (url, admin, slug) = (
            a.url("/api/update_society_settings"),
            admin.clone(),
            club.slug.clone(),
        );
        tokio::spawn(async move {
            let sent = Instant::now();
            let answer = http()
                .post(url)
                .header("cookie", admin)
                .header("sec-fetch-site", "same-origin")
                .header("accept", "application/json")
                .form(&[
                    ("slug", slug.as_str()),
                    ("name", "Drill club term"),
                    ("description", "changed during a rolling update"),
                    ("time_zone", "Europe/Berlin"),
                    ("join_policy", "approval"),
                ])
                .send()
                .await;
            let outcome = match answer {
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    (
                        label(&Ok(status)),
                        body.chars().take(200).collect::<String>(),
                    )
                }
                Err(e) => (error_kind(&e), String::new()),
            };
            (outcome, sent.elapsed())
        })
    };
    let waiting = wait_until(Duration::from_secs(10), || async {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
        n > 0
    })
    .await;
    report.check(
        waiting.is_some(),
        "the slow request is in flight (waiting for the society's row lock)",
    );

    // Clients that keep sending to term-a, and to term-b when term-a refuses the connection.
    let (stop_tx, stop_rx) = watch::channel(false);
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // When SIGTERM was sent: term-a stops listening `DELAY_SECS` later.
    let term: Arc<std::sync::OnceLock<Duration>> = Arc::default();
    let mut client_tasks = Vec::new();
    for _ in 0..2 {
        let (sent, members, slug, sessions, next, stop_rx, term) = (
            sent.clone(),
            members.clone(),
            other.slug.clone(),
            other.sessions.clone(),
            next.clone(),
            stop_rx.clone(),
            term.clone(),
        );
        // Whether `now` is within half a second of the moment term-a stops listening: a
        // connection it had not accepted yet is reset then, not refused.
        let near_close = move |now: Duration| {
            term.get().is_some_and(|t| {
                let close = *t + Duration::from_secs(DELAY_SECS);
                now + Duration::from_millis(500) >= close
                    && now <= close + Duration::from_millis(500)
            })
        };
        let bases = [a.base.clone(), b.base.clone()];
        client_tasks.push(tokio::spawn(async move {
            // A new connection for each request, as a client behind a load balancer.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client");
            while !*stop_rx.borrow() {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Odd requests book a new (member, session) pair while there are any.
                let pair = n / 2;
                let member = &members[pair % members.len()];
                let booking = n % 2 == 1 && pair < members.len() * sessions.len();
                let session = sessions[(pair / members.len()) % sessions.len()];
                let at = started.elapsed();
                let mut outcome = String::new();
                let mut by = "term-a";
                for (i, base) in bases.iter().enumerate() {
                    let request = if booking {
                        client
                            .post(format!("{base}/api/v1/bookings"))
                            .header("idempotency-key", format!("term-{n}"))
                            .json(&serde_json::json!({ "occurrence_id": session }))
                    } else {
                        client.get(format!("{base}/s/{slug}/calendar"))
                    };
                    match request.header("cookie", &member.cookie).send().await {
                        Ok(r) => {
                            outcome = r.status().as_u16().to_string();
                            break;
                        }
                        Err(e) if e.is_connect() && i == 0 => {
                            by = "term-b";
                            continue;
                        }
                        // Reset as the listener closed (the request was idempotent: retried).
                        Err(e) if i == 0 && !e.is_timeout() && near_close(started.elapsed()) => {
                            by = "term-b after a reset";
                            continue;
                        }
                        Err(e) => {
                            outcome = error_kind(&e);
                            break;
                        }
                    }
                }
                sent.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Sent { at, by, outcome });
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // SIGTERM.
    let term_at = started.elapsed();
    let term_clock = Instant::now();
    let _ = term.set(term_at);
    a.signal("TERM")?;
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .ctx("client")?;
    let mut unready = None;
    while term_clock.elapsed() < Duration::from_secs(2) {
        if let Ok(r) = probe.get(a.url("/readyz")).send().await {
            if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                unready = Some(term_clock.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    report.figure("SIGTERM", format!("at {:.1} s", term_at.as_secs_f64()));
    report.check(
        unready.is_some_and(|d| d < Duration::from_secs(1)),
        format!(
            "/readyz answered 503 at once ({})",
            unready
                .map(|d| format!("{:.0} ms after SIGTERM", d.as_secs_f64() * 1e3))
                .unwrap_or_else(|| "NOT within 2 s".into())
        ),
    );
    // The lock goes a second into the drain: the slow request can finish then.
    tokio::time::sleep(Duration::from_secs(DELAY_SECS + 1).saturating_sub(term_clock.elapsed()))
        .await;
    blocker.rollback().await.ctx("releasing the lock")?;
    let released = term_clock.elapsed();
    let exit = a
        .wait_exit(Duration::from_secs(DELAY_SECS + DRAIN_SECS + 40))
        .await;
    let exited = term_clock.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send_replace(true);
    for task in client_tasks {
        let _ = task.await;
    }
    let grace = Duration::from_secs(DELAY_SECS + DRAIN_SECS) + MARGIN;

    // The slow request finished.
    let ((status, body), took) = slow.await.ctx("the slow request")?;
    let description: String = sqlx::query_scalar("select description from societies where id = $1")
        .bind(club.society)
        .fetch_one(&pool)
        .await
        .unwrap_or_default();
    report.check(
        status == "200" && description == "changed during a rolling update",
        format!(
            "the slow request in flight finished: {status} after {} (the lock was released {} after SIGTERM){}",
            secs(took),
            secs(released),
            if status == "200" { String::new() } else { format!(": {body}") }
        ),
    );

    // The live stream ended with a hint to reconnect.
    let ended = follower.ended(Duration::from_secs(1)).await;
    let last = follower.events().last().cloned();
    let end = follower.ends().first().cloned();
    report.check(
        ended
            && last
                .as_ref()
                .is_some_and(|e| e.name == "restart" && e.retry.as_deref() == Some("500")),
        format!(
            "the live stream closed with a reconnect hint: last event {:?}, closed {}",
            last.as_ref().map(|e| format!(
                "event: {} retry: {}",
                e.name,
                e.retry.as_deref().unwrap_or("-")
            )),
            end.map(|(at, why)| format!(
                "{} after SIGTERM ({why})",
                secs(at.saturating_sub(term_at))
            ))
            .unwrap_or_else(|| "NEVER".into())
        ),
    );

    // The process ended in time, cleanly.
    report.check(
        exit.is_some_and(|s| s.success()) && exited <= grace,
        format!(
            "the process exited 0 within the grace period ({} = delay {DELAY_SECS} s + drain {DRAIN_SECS} s + {} s): {} after {}",
            secs(grace),
            MARGIN.as_secs(),
            exit.map(|s| s.to_string())
                .unwrap_or_else(|| "still running".into()),
            secs(exited)
        ),
    );

    // The worker gave back its jobs: queued again, the attempt not counted.
    let ids: Vec<i64> = held.iter().map(|(id, _)| *id).collect();
    let after: Vec<(i64, String, i32)> = sqlx::query_as(
        "select id, status::text, attempts from jobs where id = any($1) order by id",
    )
    .bind(&ids)
    .fetch_all(&pool)
    .await
    .ctx("the jobs it held")?;
    report.figure(
        "its jobs after the exit",
        after
            .iter()
            .map(|(id, status, attempts)| format!("{id}: {status}, {attempts} attempts"))
            .collect::<Vec<_>>()
            .join("; "),
    );
    let given_back = after.iter().all(|(id, status, attempts)| {
        let before = held.iter().find(|(h, _)| h == id).map_or(0, |(_, a)| *a);
        status == "done" || (status == "queued" && *attempts == before - 1)
    });
    report.check(
        given_back && !after.is_empty(),
        "the worker gave back the jobs it held (queued again, the attempt not counted), none left running",
    );
    // The replacement takes them at once, long before a dead worker's claims would expire.
    let r = Server::start(ctx, report, "term-r", &db, &settings(&smtp)).await?;
    let rerun = wait_until(Duration::from_secs(20), || async {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from jobs where id = any($1) and status in ('queued', 'running')",
        )
        .bind(&ids)
        .fetch_one(&pool)
        .await
        .unwrap_or(-1);
        open == 0
    })
    .await;
    report.check(
        rerun.is_some(),
        format!(
            "the new server ran them at once ({}; a killed server's jobs would wait 300 s)",
            rerun
                .map(|d| format!("all finished {} after it was ready", secs(d)))
                .unwrap_or_else(|| "NOT within 20 s".into())
        ),
    );
    let deliveries: Vec<(String, Option<String>)> = sqlx::query_as(
        "select d.status::text, d.last_error from notification_deliveries d
           join notification_outbox o on o.id = d.outbox_id where o.society_id = $1",
    )
    .bind(club.society)
    .fetch_all(&pool)
    .await
    .ctx("deliveries")?;
    let by_status: BTreeMap<String, usize> =
        deliveries.iter().fold(BTreeMap::new(), |mut m, (s, e)| {
            let key = match e {
                Some(e) if s == "dead" => format!("dead ({})", e.split(':').next().unwrap_or(e)),
                _ => s.clone(),
            };
            *m.entry(key).or_insert(0) += 1;
            m
        });
    report.figure("its mail", counts(&by_status));
    let captured = smtp.message_ids();
    let distinct: std::collections::HashSet<&String> = captured.iter().collect();
    report.check(
        distinct.len() == captured.len(),
        format!("no mail sent twice ({} captured)", captured.len()),
    );
    drop(r);

    // What the client saw.
    let sent = sent.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let tally: BTreeMap<String, usize> = sent.iter().fold(BTreeMap::new(), |mut m, s| {
        let phase = if s.at < term_at {
            "before SIGTERM"
        } else if s.at < term_at + Duration::from_secs(DELAY_SECS) {
            "during the delay"
        } else {
            "after the delay"
        };
        *m.entry(format!("{phase}: {} {}", s.by, s.outcome))
            .or_insert(0) += 1;
        m
    });
    report.figure("the retrying client", counts(&tally));
    let reset = sent
        .iter()
        .filter(|s| s.by == "term-b after a reset")
        .count();
    if reset > 0 {
        report.note(format!(
            "note: {reset} request(s) sent as term-a stopped listening got a connection reset, not a refusal \
             (a connection in the listen backlog, or accepted but not yet read, is reset when the listener closes); \
             idempotent, they were retried on term-b"
        ));
    }
    let failed: Vec<&Sent> = sent
        .iter()
        .filter(|s| !matches!(s.outcome.as_str(), "200" | "201"))
        .collect();
    report.check(
        failed.is_empty() && !sent.is_empty(),
        format!(
            "a client retrying refused connections on term-b saw no failed request ({} requests, {} failed{})",
            sent.len(),
            failed.len(),
            failed
                .first()
                .map(|f| format!("; first: {:.1} s {} {}", f.at.as_secs_f64(), f.by, f.outcome))
                .unwrap_or_default()
        ),
    );
    let in_delay: Vec<&Sent> = sent
        .iter()
        .filter(|s| {
            s.at >= term_at
                && s.at + Duration::from_millis(300) < term_at + Duration::from_secs(DELAY_SECS)
        })
        .collect();
    report.check(
        !in_delay.is_empty() && in_delay.iter().all(|s| s.by == "term-a"),
        format!(
            "term-a still took requests during the {DELAY_SECS} s delay ({} of {} sent then)",
            in_delay.iter().filter(|s| s.by == "term-a").count(),
            in_delay.len()
        ),
    );
    report.note("term-a logged:");
    for (line, n) in log_summary(&a.log) {
        report.note(format!("  ×{n:<3} {line}"));
    }
    for line in std::fs::read_to_string(&a.log)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains("shutting down")
                || l.contains("given back")
                || l.contains("stopped")
                || l.contains("stopping")
        })
    {
        let text = line.split_once(" INFO ").map(|(_, r)| r).unwrap_or(line);
        report.note(format!("  | {text}"));
    }
    drop(follower);
    drop(b);
    pool.close().await;
    Ok(())
}
