//! A rush: 300 members send 10 requests each (one `Idempotency-Key` per member) for one
//! 10-spot session, all within about a second, over three servers of the build under test
//! with default settings. Every answer is 201, or 429/503 with `Retry-After`; clients honour
//! it (at most 2 s, with jitter) and retry on the next server until 201. In the end exactly
//! 10 are confirmed and 290 waitlisted, one booking each.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::sync::watch;

use crate::support::*;

const MEMBERS: usize = 300;
const REQUESTS_EACH: usize = 10;
const CAPACITY: i32 = 10;
const SERVERS: usize = 3;
/// A client gives up after this long.
const GIVE_UP: Duration = Duration::from_secs(60);
/// Every member must have their booking (a spot or a waitlist place) within this long: a
/// person who has pressed "Book" for half a minute has given up.
const MEMBER_LIMIT: Duration = Duration::from_secs(30);

/// What one client saw.
#[derive(Default)]
struct Client {
    member: usize,
    /// Every answer: status (or error), whether Retry-After came, latency.
    answers: Vec<(String, Option<bool>, Duration)>,
    /// When each answer came, from the first request of the rush.
    times: Vec<Duration>,
    /// The booking of the final 201: id and status.
    booked: Option<(String, String)>,
    done_at: Option<Duration>,
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let db = ctx.cluster.create_database("drill_rush").await?;
    // Sign-in links are limited per address (20 at once, then 1 a second): the 300 members
    // sign in through a set-up server without limits, then it goes. Sessions are in
    // PostgreSQL: their cookies work on the rush servers.
    let setup = Server::start(
        ctx,
        report,
        "rush-setup",
        &db,
        &[
            ("ROSTER_MAIL_TRANSPORT", "folder".to_string()),
            ("ROSTER_EMAIL_LOGIN", "on".to_string()),
            ("ROSTER_RATE_WRITES_PER_PERSON", "0".to_string()),
            ("ROSTER_JOB_CONCURRENCY", "0".to_string()),
        ],
    )
    .await?;
    let pool = pool(&db).await?;
    let club = seed_club(&pool, "rush", 1, CAPACITY).await?;
    let session = club.sessions[0];
    let signing = Instant::now();
    let members = members(
        &pool,
        &club,
        "m",
        MEMBERS,
        std::slice::from_ref(&setup.base),
    )
    .await?;
    let signed_in = signing.elapsed();
    drop(setup);
    // The servers under test: nothing but what must be set.
    // (`/metrics` on a private address only counts what happens: why requests were refused.)
    let mut servers = Vec::new();
    let mut metrics = Vec::new();
    for name in ["rush-a", "rush-b", "rush-c"] {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        servers.push(
            Server::start(
                ctx,
                report,
                name,
                &db,
                &[("ROSTER_METRICS_ADDR", addr.clone())],
            )
            .await?,
        );
        metrics.push(format!("http://{addr}/metrics"));
    }
    let bases: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| s.base.clone()).collect());
    report.figure(
        "set-up",
        format!(
            "{MEMBERS} members signed in ({}); one session of {CAPACITY} spots; {SERVERS} servers with default settings \
             (and ROSTER_METRICS_ADDR, to count refusals)",
            secs(signed_in)
        ),
    );

    let (go_tx, go_rx) = watch::channel(false);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .ctx("client")?;
    let started = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut tasks = Vec::with_capacity(MEMBERS * REQUESTS_EACH);
    for (m, member) in members.iter().enumerate() {
        for i in 0..REQUESTS_EACH {
            let (http, bases, cookie, started) = (
                http.clone(),
                bases.clone(),
                member.cookie.clone(),
                started.clone(),
            );
            let mut go = go_rx.clone();
            // Spread over about a second.
            let offset = Duration::from_millis(
                ((m * REQUESTS_EACH + i) * 1000 / (MEMBERS * REQUESTS_EACH)) as u64,
            );
            tasks.push(tokio::spawn(async move {
                let _ = go.wait_for(|go| *go).await;
                tokio::time::sleep(offset).await;
                let t0 = *started.get_or_init(Instant::now);
                let mut seen = Client {
                    member: m,
                    ..Default::default()
                };
                let mut server = (m * REQUESTS_EACH + i) % bases.len();
                while t0.elapsed() < GIVE_UP {
                    let sent = Instant::now();
                    let answer = http
                        .post(format!("{}/api/v1/bookings", bases[server]))
                        .header("cookie", &cookie)
                        .header("idempotency-key", format!("rush-{m}"))
                        .json(&serde_json::json!({ "occurrence_id": session }))
                        .send()
                        .await;
                    server = (server + 1) % bases.len();
                    seen.times.push(t0.elapsed());
                    let wait = match answer {
                        Ok(r) => {
                            let status = r.status();
                            let retry = retry_after(&r);
                            let body = r.text().await.unwrap_or_default();
                            let took = sent.elapsed();
                            if status == StatusCode::CREATED {
                                seen.answers.push(("201".into(), None, took));
                                let v: serde_json::Value =
                                    serde_json::from_str(&body).unwrap_or_default();
                                seen.booked = Some((
                                    v["id"].as_str().unwrap_or_default().to_string(),
                                    v["status"].as_str().unwrap_or_default().to_string(),
                                ));
                                seen.done_at = Some(t0.elapsed());
                                return seen;
                            }
                            if matches!(
                                status,
                                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                            ) {
                                seen.answers.push((
                                    status.as_u16().to_string(),
                                    Some(retry.is_some()),
                                    took,
                                ));
                                // As asked, at most 2 s, with jitter.
                                Duration::from_secs(retry.unwrap_or(1).min(2))
                                    + Duration::from_millis(rand::random::<u64>() % 500)
                            } else {
                                let detail: String = body.chars().take(150).collect();
                                seen.answers.push((
                                    format!("{} {detail}", status.as_u16()),
                                    None,
                                    took,
                                ));
                                // Not an answer to retry: this client stops.
                                return seen;
                            }
                        }
                        Err(e) => {
                            seen.answers.push((error_kind(&e), None, sent.elapsed()));
                            Duration::from_millis(500 + rand::random::<u64>() % 500)
                        }
                    };
                    tokio::time::sleep(wait).await;
                }
                seen
            }));
        }
    }
    // Every client waits at the line.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu_before: Vec<u64> = servers.iter().map(|s| cpu_ticks(s.pid)).collect();
    let own_before = cpu_ticks(std::process::id());
    let machine_before = machine_ticks();
    let go_at = Instant::now();
    go_tx.send_replace(true);
    let mut clients = Vec::with_capacity(tasks.len());
    for task in tasks {
        clients.push(task.await.ctx("a client")?);
    }
    let total = go_at.elapsed();
    let hz = ticks_per_second();
    let machine_after = machine_ticks();
    let servers_cpu: Vec<f64> = servers
        .iter()
        .zip(&cpu_before)
        .map(|(s, before)| (cpu_ticks(s.pid).saturating_sub(*before)) as f64 / hz)
        .collect();
    let own_cpu = cpu_ticks(std::process::id()).saturating_sub(own_before) as f64 / hz;
    let busy = machine_after.0.saturating_sub(machine_before.0) as f64 / hz;
    let capacity = machine_after.1.saturating_sub(machine_before.1) as f64 / hz;

    // --- what happened -----------------------------------------------------------------
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut without_retry_after = 0;
    for c in &clients {
        for (outcome, retry, took) in &c.answers {
            let key = outcome.split(' ').next().unwrap_or(outcome).to_string();
            *by_status.entry(key).or_insert(0) += 1;
            latencies.push(*took);
            if *retry == Some(false) {
                without_retry_after += 1;
            }
        }
    }
    let answers: usize = by_status.values().sum();
    // How the answers went over time, in 10 s steps.
    let mut timeline: BTreeMap<u64, BTreeMap<String, usize>> = BTreeMap::new();
    for c in &clients {
        for ((outcome, _, _), at) in c.answers.iter().zip(&c.times) {
            let key = outcome.split(' ').next().unwrap_or(outcome).to_string();
            *timeline
                .entry(at.as_secs() / 10 * 10)
                .or_default()
                .entry(key)
                .or_insert(0) += 1;
        }
    }
    report.figure(
        "answers",
        format!(
            "{answers} to {} requests sent ({} clients): {}",
            answers,
            clients.len(),
            counts(&by_status)
        ),
    );
    report.figure(
        "latency",
        format!(
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms per answer",
            percentile_ms(&latencies, 0.5),
            percentile_ms(&latencies, 0.99),
            percentile_ms(&latencies, 1.0)
        ),
    );
    for (from, tally) in &timeline {
        report.figure(&format!("  {from}–{} s", from + 10), counts(tally));
    }
    report.figure(
        "CPU during the rush",
        format!(
            "{:.0}% of the machine busy: servers {} s, this drill's clients {:.0} s, the rest (PostgreSQL) {:.0} s, of {:.0} s",
            100.0 * busy / capacity.max(1.0),
            servers_cpu
                .iter()
                .map(|c| format!("{c:.0}"))
                .collect::<Vec<_>>()
                .join(" + "),
            own_cpu,
            (busy - servers_cpu.iter().sum::<f64>() - own_cpu).max(0.0),
            capacity
        ),
    );
    let done: Vec<Duration> = clients.iter().filter_map(|c| c.done_at).collect();
    report.figure(
        "time",
        format!(
            "{} from the first request to the last 201; half the requests had theirs after {}",
            secs(total),
            secs(Duration::from_secs_f64(percentile_ms(&done, 0.5) / 1e3))
        ),
    );
    let wrong: Vec<&String> = clients
        .iter()
        .flat_map(|c| c.answers.iter())
        .map(|(o, _, _)| o)
        .filter(|o| !matches!(o.as_str(), "201" | "429" | "503"))
        .collect();
    let mut wrong_kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for w in &wrong {
        *wrong_kinds.entry(w.as_str()).or_insert(0) += 1;
    }
    report.check(
        wrong.is_empty(),
        format!(
            "every answer was 201, 429 or 503 ({} others{})",
            wrong.len(),
            if wrong.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    counts(
                        &wrong_kinds
                            .iter()
                            .map(|(k, v)| (k.to_string(), *v))
                            .collect()
                    )
                )
            }
        ),
    );
    report.check(
        without_retry_after == 0,
        format!("every 429 and 503 carried Retry-After ({without_retry_after} did not)"),
    );
    let unanswered = clients.iter().filter(|c| c.booked.is_none()).count();
    report.figure(
        "requests without a 201",
        format!(
            "{unanswered} of {} were still refused when their client gave up after {}",
            clients.len(),
            secs(GIVE_UP)
        ),
    );
    // One booking per member in every answer.
    let mut per_member: HashMap<usize, HashSet<String>> = HashMap::new();
    for c in &clients {
        if let Some((id, _)) = &c.booked {
            per_member.entry(c.member).or_default().insert(id.clone());
        }
    }
    let split = per_member.values().filter(|ids| ids.len() > 1).count();
    report.check(
        split == 0,
        format!("all 10 requests of a member were answered with the same booking ({split} members got two)"),
    );
    let (confirmed, waitlisted, people, rows): (i64, i64, i64, i64) = sqlx::query_as(
        "select count(*) filter (where status = 'confirmed'), count(*) filter (where status = 'waitlisted'),
                count(distinct user_id), count(*)
           from bookings where occurrence_id = $1",
    )
    .bind(session)
    .fetch_one(&pool)
    .await
    .ctx("counting the bookings")?;
    let (seats, waiting): (i32, i32) =
        sqlx::query_as("select confirmed_count, waitlisted_count from occurrences where id = $1")
            .bind(session)
            .fetch_one(&pool)
            .await
            .ctx("the session's counters")?;
    let expected_waitlist = MEMBERS as i64 - i64::from(CAPACITY);
    report.figure(
        "in the database",
        format!(
            "{confirmed} confirmed, {waitlisted} waitlisted, {people} members, {rows} rows; counters {seats}/{waiting}"
        ),
    );
    report.check(
        confirmed == i64::from(CAPACITY)
            && rows == people
            && i64::from(seats) == confirmed
            && i64::from(waiting) == waitlisted,
        format!(
            "exactly {CAPACITY} confirmed, one booking per member, the session's counters agreeing"
        ),
    );
    // When each member first heard "booked" (from any of their ten requests).
    let mut first: HashMap<usize, Duration> = HashMap::new();
    for c in &clients {
        if let Some(at) = c.done_at {
            let best = first.entry(c.member).or_insert(at);
            *best = (*best).min(at);
        }
    }
    let firsts: Vec<Duration> = first.values().copied().collect();
    let in_time = firsts.iter().filter(|d| **d <= MEMBER_LIMIT).count();
    report.figure(
        "members booked",
        format!(
            "{} of {MEMBERS}: half within {}, 90% within {}, the last after {}",
            firsts.len(),
            secs(Duration::from_secs_f64(percentile_ms(&firsts, 0.5) / 1e3)),
            secs(Duration::from_secs_f64(percentile_ms(&firsts, 0.9) / 1e3)),
            secs(Duration::from_secs_f64(percentile_ms(&firsts, 1.0) / 1e3))
        ),
    );
    report.check(
        people == MEMBERS as i64 && waitlisted == expected_waitlist && in_time == MEMBERS,
        format!(
            "every member who kept retrying is booked or waitlisted in the end, within {}: {in_time} of {MEMBERS} \
             in time, {people} in the end ({waitlisted} waitlisted, {expected_waitlist} expected)",
            secs(MEMBER_LIMIT)
        ),
    );
    let positions: Vec<i64> = sqlx::query_scalar(
        "select queue_number from bookings where occurrence_id = $1 and status = 'waitlisted' order by queue_number",
    )
    .bind(session)
    .fetch_all(&pool)
    .await
    .unwrap_or_default();
    let distinct: HashSet<i64> = positions.iter().copied().collect();
    report.check(
        distinct.len() == positions.len(),
        "no two waitlisted bookings share a place in the queue",
    );
    for (server, url) in servers.iter().zip(&metrics) {
        let text = match http.get(url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => error_kind(&e),
        };
        let refusals: Vec<String> = text
            .lines()
            .filter(|l| {
                l.starts_with("roster_overload_rejections_total")
                    || l.starts_with("roster_rate_limited_total")
                    || l.starts_with("roster_db_pool_acquire_timeouts_total")
            })
            .map(|l| l.replace("roster_", ""))
            .collect();
        report.figure(&format!("{} refused", server.name), refusals.join(", "));
    }
    for server in &servers {
        let summary = log_summary(&server.log);
        if !summary.is_empty() {
            report.note(format!("{} logged:", server.name));
            for (line, n) in summary {
                report.note(format!("  ×{n:<4} {line}"));
            }
        }
    }
    pool.close().await;
    Ok(())
}
