//! Load as members make it: each client books a new (member, session) pair with the REST API
//! and opens a page, over every server in turn. A booking is retried with the same
//! `Idempotency-Key` (on the next server) until it is answered 201, so every 201 is an
//! acknowledged write the database must keep, once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::support::{error_kind, retry_after, Member, Report};

#[derive(Clone)]
pub struct Load {
    pub servers: Vec<String>,
    pub members: Arc<Vec<Member>>,
    pub sessions: Arc<Vec<uuid::Uuid>>,
    pub slug: String,
    /// A booking is given up when it has not been answered 201 this long after its first try.
    pub retry_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum What {
    Booking,
    Page,
}

/// One request and what came of it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When it was sent, from the start of the load.
    pub at: Duration,
    pub what: What,
    pub server: usize,
    /// The status, or the client's error.
    pub outcome: String,
    /// 429/503: whether `Retry-After` came with it.
    pub retry_after: Option<bool>,
    pub latency: Duration,
    /// The start of the body of an unexpected answer.
    pub detail: String,
}

/// A booking answered 201.
#[derive(Debug, Clone)]
pub struct Acked {
    pub member: uuid::Uuid,
    pub occurrence: uuid::Uuid,
    pub booking: uuid::Uuid,
    pub key: String,
}

#[derive(Default)]
pub struct Results {
    pub samples: Vec<Sample>,
    pub acked: Vec<Acked>,
    /// Bookings never answered 201 (gave up, or refused).
    pub unanswered: Vec<String>,
}

struct Shared {
    load: Load,
    next: AtomicUsize,
    started: Instant,
    client: reqwest::Client,
    results: Mutex<Results>,
}

/// Runs `clients` clients from now until `stop` turns true (bookings under way finish their
/// retries first); sample times count from `started`.
pub fn start(load: Load, clients: usize, stop: watch::Receiver<bool>, started: Instant) -> Running {
    let shared = Arc::new(Shared {
        load,
        next: AtomicUsize::new(0),
        started,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(25))
            .build()
            .expect("an HTTP client"),
        results: Mutex::default(),
    });
    let mut tasks = Vec::with_capacity(clients);
    for n in 0..clients {
        let (shared, stop) = (shared.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = n;
            while !*stop.borrow() {
                book(&shared).await;
                page(&shared, round).await;
                round += 1;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }
    Running { shared, tasks }
}

pub struct Running {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Waits for the clients (stop them first) and returns what happened.
    pub async fn finish(self) -> Results {
        for task in self.tasks {
            let _ = task.await;
        }
        let mut results = self
            .shared
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *results)
    }

    /// Bookings answered 201 so far.
    pub fn acked(&self) -> usize {
        self.shared
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .acked
            .len()
    }
}

fn record(shared: &Shared, sample: Sample) {
    shared
        .results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .samples
        .push(sample);
}

async fn book(shared: &Shared) {
    let load = &shared.load;
    let pairs = load.members.len() * load.sessions.len();
    let p = shared.next.fetch_add(1, Ordering::SeqCst);
    if p >= pairs {
        tokio::time::sleep(Duration::from_millis(200)).await;
        return;
    }
    let member = &load.members[p % load.members.len()];
    let occurrence = load.sessions[p / load.members.len()];
    let key = format!("drill-{p}");
    let first = Instant::now();
    let mut attempt = 0;
    loop {
        let server = (p + attempt) % load.servers.len();
        let at = shared.started.elapsed();
        let sent = Instant::now();
        let answer = shared
            .client
            .post(format!("{}/api/v1/bookings", load.servers[server]))
            .header("cookie", &member.cookie)
            .header("idempotency-key", &key)
            .json(&serde_json::json!({ "occurrence_id": occurrence }))
            .send()
            .await;
        let mut sample = Sample {
            at,
            what: What::Booking,
            server,
            outcome: String::new(),
            retry_after: None,
            latency: Duration::ZERO,
            detail: String::new(),
        };
        let pause = match answer {
            Ok(response) => {
                let status = response.status();
                sample.outcome = status.as_u16().to_string();
                if matches!(
                    status,
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                ) {
                    sample.retry_after = Some(retry_after(&response).is_some());
                }
                let body = response.text().await.unwrap_or_default();
                sample.latency = sent.elapsed();
                if status == StatusCode::CREATED {
                    let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    let booking = value["id"]
                        .as_str()
                        .and_then(|id| id.parse().ok())
                        .unwrap_or_default();
                    record(shared, sample);
                    shared
                        .results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .acked
                        .push(Acked {
                            member: member.id,
                            occurrence,
                            booking,
                            key,
                        });
                    return;
                }
                sample.detail = body.chars().take(200).collect();
                if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
                    record(shared, sample);
                    shared
                        .results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .unanswered
                        .push(format!("{key}: {status}"));
                    return;
                }
                // Sooner than Retry-After asks: the drills measure how soon it works again.
                Duration::from_millis(250)
            }
            Err(e) => {
                sample.latency = sent.elapsed();
                sample.outcome = error_kind(&e);
                if e.is_connect() {
                    Duration::from_millis(50)
                } else {
                    Duration::from_millis(150)
                }
            }
        };
        record(shared, sample);
        if first.elapsed() > load.retry_for {
            shared
                .results
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unanswered
                .push(format!("{key}: no 201 within {:?}", load.retry_for));
            return;
        }
        attempt += 1;
        tokio::time::sleep(pause).await;
    }
}

async fn page(shared: &Shared, round: usize) {
    let load = &shared.load;
    let member = &load.members[round % load.members.len()];
    let path = if round.is_multiple_of(2) {
        format!("/s/{}/calendar", load.slug)
    } else {
        format!(
            "/s/{}/sessions/{}",
            load.slug,
            load.sessions[round % load.sessions.len()]
        )
    };
    let server = round % load.servers.len();
    let at = shared.started.elapsed();
    let sent = Instant::now();
    let answer = shared
        .client
        .get(format!("{}{path}", load.servers[server]))
        .header("cookie", &member.cookie)
        .send()
        .await;
    let mut sample = Sample {
        at,
        what: What::Page,
        server,
        outcome: String::new(),
        retry_after: None,
        latency: Duration::ZERO,
        detail: String::new(),
    };
    match answer {
        Ok(response) => {
            let status = response.status();
            sample.outcome = status.as_u16().to_string();
            if matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            ) {
                sample.retry_after = Some(retry_after(&response).is_some());
            }
            let body = response.text().await.unwrap_or_default();
            if !status.is_success() {
                sample.detail = body.chars().take(200).collect();
            }
        }
        Err(e) => sample.outcome = error_kind(&e),
    }
    sample.latency = sent.elapsed();
    record(shared, sample);
}

/// Counts of outcomes by kind ("booking 201", "page 503", …) for samples sent in `from..to`.
pub fn tally(samples: &[Sample], from: Duration, to: Duration) -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    for s in samples.iter().filter(|s| s.at >= from && s.at < to) {
        let what = match s.what {
            What::Booking => "booking",
            What::Page => "page",
        };
        *map.entry(format!("{what} {}", s.outcome)).or_insert(0) += 1;
    }
    map
}

/// Answers that break "overload is an answer": a 5xx other than 503, any 4xx but 429 (and the
/// 201/200 expected), and 429/503 without `Retry-After`.
pub fn wrong_answers(samples: &[Sample]) -> Vec<String> {
    samples
        .iter()
        .filter(|s| {
            let status: Option<u16> = s.outcome.parse().ok();
            match status {
                Some(200 | 201) => false,
                Some(429 | 503) => s.retry_after == Some(false),
                Some(_) => true,
                None => false,
            }
        })
        .map(|s| {
            format!(
                "{:?} to server {} at {:.1} s answered {}{} {}",
                s.what,
                s.server,
                s.at.as_secs_f64(),
                s.outcome,
                if s.retry_after == Some(false) {
                    " without Retry-After"
                } else {
                    ""
                },
                s.detail
            )
        })
        .collect()
}

/// Checks that every acknowledged booking is in the database, once, as answered: the same
/// booking for every answer to one key, each in `bookings` with its member and session, and
/// no member holding two active bookings of one session.
/// `others`: bookings of the society made outside this load.
pub async fn check_acked(
    report: &mut Report,
    pool: &PgPool,
    society: uuid::Uuid,
    results: &Results,
    others: i64,
) {
    let mut by_key: HashMap<&str, HashSet<uuid::Uuid>> = HashMap::new();
    for a in &results.acked {
        by_key.entry(&a.key).or_default().insert(a.booking);
    }
    let split: Vec<_> = by_key.iter().filter(|(_, ids)| ids.len() > 1).collect();
    report.check(
        split.is_empty(),
        format!(
            "each Idempotency-Key got one booking in all its answers ({} keys answered 201; {} with two different bookings)",
            by_key.len(),
            split.len()
        ),
    );
    let ids: Vec<uuid::Uuid> = results.acked.iter().map(|a| a.booking).collect();
    let stored: Vec<(uuid::Uuid, uuid::Uuid, uuid::Uuid, String)> = sqlx::query_as(
        "select id, user_id, occurrence_id, status::text from bookings where id = any($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    let stored: HashMap<uuid::Uuid, (uuid::Uuid, uuid::Uuid, String)> = stored
        .into_iter()
        .map(|(id, user, occurrence, status)| (id, (user, occurrence, status)))
        .collect();
    let lost: Vec<&Acked> = results
        .acked
        .iter()
        .filter(|a| match stored.get(&a.booking) {
            Some((user, occurrence, status)) => {
                *user != a.member
                    || *occurrence != a.occurrence
                    || !(status == "confirmed" || status == "waitlisted")
            }
            None => true,
        })
        .collect();
    let distinct: HashSet<uuid::Uuid> = ids.iter().copied().collect();
    report.check(
        lost.is_empty(),
        format!(
            "every acknowledged booking is in the database as answered ({} of {} found; missing or changed: {:?})",
            distinct.len() - lost.iter().map(|a| a.booking).collect::<HashSet<_>>().len(),
            distinct.len(),
            lost.iter().take(5).map(|a| &a.key).collect::<Vec<_>>()
        ),
    );
    let doubled: i64 = sqlx::query_scalar(
        "select count(*) from (select 1 from bookings
           where society_id = $1 and status in ('confirmed', 'waitlisted')
           group by user_id, occurrence_id having count(*) > 1) d",
    )
    .bind(society)
    .fetch_one(pool)
    .await
    .unwrap_or(-1);
    let rows: i64 = sqlx::query_scalar("select count(*) from bookings where society_id = $1")
        .bind(society)
        .fetch_one(pool)
        .await
        .unwrap_or(-1)
        - others;
    let answered = distinct.len() as i64;
    report.check(
        doubled == 0,
        format!(
            "no booking twice ({rows} booking rows written by the load, {answered} acknowledged, {doubled} member/session pairs held twice)"
        ),
    );
    if rows > answered {
        report.note(format!(
            "{} bookings were written without their 201 reaching the client (the answer was cut; a retry with the same key would get it)",
            rows - answered
        ));
    }
}
