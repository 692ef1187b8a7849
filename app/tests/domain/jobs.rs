//! The job queue, the scheduler and the worker against a real PostgreSQL.

use std::time::Duration;

use app::jobs::queue::{self, Failed, NewJob};
use app::jobs::schedule::{self, Schedule};
use app::jobs::worker::{self, JobError, JobResult, Registry, WorkerConfig};
use chrono::{TimeZone, Utc};
use sqlx::PgPool;

const VISIBILITY: Duration = Duration::from_secs(60);

/// Every kind these tests queue.
fn kinds() -> Vec<String> {
    [
        "test.flaky",
        "test.bad",
        "test.long",
        "test.once",
        "test.n",
        "test.digest",
    ]
    .map(String::from)
    .to_vec()
}

async fn enqueue(pool: &PgPool, job: NewJob) -> Option<i64> {
    let mut conn = pool.acquire().await.unwrap();
    queue::enqueue(&mut conn, job).await.unwrap()
}

async fn job_row(pool: &PgPool, id: i64) -> (String, i32, Option<String>) {
    sqlx::query_as("select status::text, attempts, last_error from jobs where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Runs a worker with `registry` until the returned sender says stop.
fn start(
    pool: &PgPool,
    registry: Registry<()>,
    config: WorkerConfig,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(worker::run(
        pool.clone(),
        registry,
        (),
        config,
        async move {
            let _ = rx.wait_for(|s| *s).await;
        },
    ));
    (stop, run)
}

/// Time passes for the queue: every waiting job and every claim is `by` older.
async fn time_passes(pool: &PgPool, by: Duration) {
    sqlx::query(
        "update jobs set run_at = run_at - make_interval(secs => $1),
                locked_until = locked_until - make_interval(secs => $1)",
    )
    .bind(by.as_secs_f64())
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failing_job_backs_off_then_dies_with_its_last_error(pool: PgPool) {
    let id = enqueue(
        &pool,
        NewJob::new("test.flaky", serde_json::json!({})).attempts(3),
    )
    .await
    .unwrap();
    for attempt in 1..=3 {
        let claimed = queue::claim(&pool, "w1", &kinds(), 10, VISIBILITY)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "attempt {attempt} is due");
        assert_eq!(claimed[0].attempt, attempt);
        let before = Utc::now();
        let outcome = queue::fail(
            &pool,
            &claimed[0],
            &format!("SMTP down ({attempt})"),
            Some(Duration::from_secs(40)),
        )
        .await
        .unwrap();
        if attempt < 3 {
            let Failed::Retry(at) = outcome else {
                panic!("attempt {attempt}: {outcome:?}")
            };
            assert!(at >= before + chrono::Duration::seconds(39), "backs off");
            assert!(
                queue::claim(&pool, "w1", &kinds(), 10, VISIBILITY)
                    .await
                    .unwrap()
                    .is_empty(),
                "not due before its backoff"
            );
            time_passes(&pool, Duration::from_secs(41)).await;
        } else {
            assert_eq!(outcome, Failed::Dead);
        }
    }
    assert_eq!(
        job_row(&pool, id).await,
        ("dead".into(), 3, Some("SMTP down (3)".into()))
    );
    time_passes(&pool, Duration::from_secs(3600)).await;
    assert!(queue::claim(&pool, "w1", &kinds(), 10, VISIBILITY)
        .await
        .unwrap()
        .is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_permanent_failure_is_dead_at_once(pool: PgPool) {
    let id = enqueue(&pool, NewJob::new("test.bad", serde_json::json!({})))
        .await
        .unwrap();
    let claimed = queue::claim(&pool, "w1", &kinds(), 1, VISIBILITY)
        .await
        .unwrap();
    let outcome = queue::fail(&pool, &claimed[0], "no such mailbox", None)
        .await
        .unwrap();
    assert_eq!(outcome, Failed::Dead);
    assert_eq!(job_row(&pool, id).await.0, "dead");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_killed_workers_job_runs_again_after_its_visibility_timeout(pool: PgPool) {
    let id = enqueue(&pool, NewJob::new("test.long", serde_json::json!({})))
        .await
        .unwrap();
    let first = queue::claim(&pool, "dies", &kinds(), 1, VISIBILITY)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // The first worker is killed: it never finishes. Until its claim expires nobody else
    // takes the job.
    assert!(queue::claim(&pool, "other", &kinds(), 1, VISIBILITY)
        .await
        .unwrap()
        .is_empty());
    time_passes(&pool, VISIBILITY + Duration::from_secs(1)).await;
    let second = queue::claim(&pool, "other", &kinds(), 1, VISIBILITY)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].id, second[0].attempt), (id, 2));
    // The dead worker's late answer changes nothing; the new claim finishes it.
    assert!(!queue::complete(&pool, &first[0]).await.unwrap());
    assert_eq!(
        queue::fail(&pool, &first[0], "late", None).await.unwrap(),
        Failed::ClaimLost
    );
    assert!(queue::complete(&pool, &second[0]).await.unwrap());
    assert_eq!(job_row(&pool, id).await.0, "done");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_job_lost_on_its_last_attempt_is_dead(pool: PgPool) {
    let id = enqueue(
        &pool,
        NewJob::new("test.once", serde_json::json!({})).attempts(1),
    )
    .await
    .unwrap();
    queue::claim(&pool, "dies", &kinds(), 1, VISIBILITY)
        .await
        .unwrap();
    time_passes(&pool, VISIBILITY + Duration::from_secs(1)).await;
    assert!(queue::claim(&pool, "other", &kinds(), 1, VISIBILITY)
        .await
        .unwrap()
        .is_empty());
    let (status, _, error) = job_row(&pool, id).await;
    assert_eq!(status, "dead");
    assert!(error.unwrap().contains("worker stopped"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_claim_skips_jobs_another_worker_is_taking(pool: PgPool) {
    for n in 0..3 {
        enqueue(&pool, NewJob::new("test.n", serde_json::json!({ "n": n }))).await;
    }
    // Worker A is in the middle of claiming the oldest job: its row lock is held.
    let mut a = pool.begin().await.unwrap();
    let held: i64 =
        sqlx::query_scalar("select id from jobs order by id limit 1 for update skip locked")
            .fetch_one(&mut *a)
            .await
            .unwrap();
    // Worker B does not wait for A and does not get A's job.
    let b = queue::claim(&pool, "b", &kinds(), 10, VISIBILITY)
        .await
        .unwrap();
    assert_eq!(b.len(), 2);
    assert!(b.iter().all(|j| j.id != held));
    a.rollback().await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn two_workers_run_each_job_exactly_once(pool: PgPool) {
    sqlx::query("create table job_runs (job_id bigint not null, worker text not null)")
        .execute(&pool)
        .await
        .unwrap();
    const JOBS: usize = 200;
    let mut tx = pool.begin().await.unwrap();
    for n in 0..JOBS {
        queue::enqueue(
            &mut tx,
            NewJob::new("test.count", serde_json::json!({ "n": n })),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let registry = |name: &'static str| {
        Registry::<PgPool>::default().on("test.count", move |pool: PgPool, job| async move {
            sqlx::query("insert into job_runs (job_id, worker) values ($1, $2)")
                .bind(job.id)
                .bind(name)
                .execute(&pool)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            JobResult::Ok(())
        })
    };
    let (stop, rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut workers = Vec::new();
    for name in ["one", "two"] {
        let mut config = WorkerConfig::new(name, 4);
        config.poll = Duration::from_millis(50);
        workers.push(tokio::spawn(worker::run(
            pool.clone(),
            registry(name),
            pool.clone(),
            config,
            stopped(rx.clone()),
        )));
    }
    let started = std::time::Instant::now();
    loop {
        let done: i64 = sqlx::query_scalar("select count(*) from jobs where status = 'done'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if done == JOBS as i64 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{done} done");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let (runs, distinct, workers): (i64, i64, i64) = sqlx::query_as(
        "select count(*), count(distinct job_id), count(distinct worker) from job_runs",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((runs, distinct), (JOBS as i64, JOBS as i64));
    assert_eq!(workers, 2, "both workers took part");
}

#[sqlx::test(migrations = "../migrations")]
async fn shutdown_gives_back_a_job_that_did_not_finish(pool: PgPool) {
    let id = enqueue(&pool, NewJob::new("test.stuck", serde_json::json!({})))
        .await
        .unwrap();
    let registry = Registry::<()>::default().on("test.stuck", |_, _| async {
        std::future::pending::<()>().await;
        JobResult::Ok(())
    });
    let mut config = WorkerConfig::new("w", 1);
    config.shutdown_grace = Duration::from_millis(100);
    let (stop, run) = start(&pool, registry, config);
    let started = std::time::Instant::now();
    while job_row(&pool, id).await.0 != "running" {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(true).unwrap();
    run.await.unwrap();
    assert_eq!(job_row(&pool, id).await, ("queued".into(), 0, None));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_worker_claims_only_the_kinds_it_can_run(pool: PgPool) {
    let id = enqueue(&pool, NewJob::new("test.future", serde_json::json!({})))
        .await
        .unwrap();
    // An older replica that does not know `test.future` leaves it alone.
    assert!(queue::claim(&pool, "old", &kinds(), 10, VISIBILITY)
        .await
        .unwrap()
        .is_empty());
    let new = queue::claim(&pool, "new", &["test.future".to_string()], 10, VISIBILITY)
        .await
        .unwrap();
    assert_eq!(new[0].id, id);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_queued_dedupe_key_is_queued_once(pool: PgPool) {
    let job = || NewJob::new("test.digest", serde_json::json!({})).dedupe("digest:a");
    let first = enqueue(&pool, job()).await;
    assert!(first.is_some());
    assert_eq!(enqueue(&pool, job()).await, None, "one is waiting already");
    // Once it runs, the next one may queue (it covers what arrived meanwhile).
    let claimed = queue::claim(&pool, "w", &kinds(), 1, VISIBILITY)
        .await
        .unwrap();
    let second = enqueue(&pool, job()).await;
    assert!(second.is_some());
    // A failure of the running one while the next waits: the next does its work.
    assert_eq!(
        queue::fail(&pool, &claimed[0], "x", Some(Duration::from_secs(1)))
            .await
            .unwrap(),
        Failed::Superseded
    );
}

const EVERY_MINUTE: &[Schedule] = &[Schedule {
    name: "test.tick",
    cron: "* * * * *",
}];

async fn queued_ticks(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from jobs where kind = 'test.tick'")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn cron_runs_once_per_due_time_across_two_schedulers(pool: PgPool) {
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 30).unwrap();
    schedule::register(&pool, EVERY_MINUTE, t0).await.unwrap();
    schedule::register(&pool, EVERY_MINUTE, t0).await.unwrap();
    assert!(
        schedule::tick(&pool, t0).await.unwrap().is_empty(),
        "not due yet"
    );
    let due = t0 + chrono::Duration::seconds(40); // 10:01:10
                                                  // Scheduler A takes the due row and is still in its transaction…
    let mut a = pool.begin().await.unwrap();
    assert_eq!(
        schedule::queue_due(&mut a, due).await.unwrap(),
        ["test.tick"]
    );
    // …so scheduler B skips it instead of queueing it too.
    assert!(schedule::tick(&pool, due).await.unwrap().is_empty());
    a.commit().await.unwrap();
    // After A committed, the next due time is 10:02: B finds nothing for 10:01.
    assert!(schedule::tick(&pool, due).await.unwrap().is_empty());
    assert_eq!(queued_ticks(&pool).await, 1);
    let next: chrono::DateTime<Utc> =
        sqlx::query_scalar("select next_run_at from scheduled_jobs where name = 'test.tick'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(next, Utc.with_ymd_and_hms(2026, 12, 1, 10, 2, 0).unwrap());
}

#[sqlx::test(migrations = "../migrations")]
async fn missed_due_times_run_once_and_a_waiting_run_is_not_doubled(pool: PgPool) {
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 30).unwrap();
    schedule::register(&pool, EVERY_MINUTE, t0).await.unwrap();
    // No server ran for an hour: one run, not sixty.
    let later = t0 + chrono::Duration::hours(1);
    assert_eq!(schedule::tick(&pool, later).await.unwrap().len(), 1);
    // The next minute comes while that run still waits for a worker: no second one.
    assert_eq!(
        schedule::tick(&pool, later + chrono::Duration::minutes(1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(queued_ticks(&pool).await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_worker_records_how_a_scheduled_run_went(pool: PgPool) {
    let t0 = Utc::now() - chrono::Duration::minutes(2);
    schedule::register(&pool, EVERY_MINUTE, t0).await.unwrap();
    schedule::tick(&pool, Utc::now()).await.unwrap();
    let registry = Registry::<()>::default().on("test.tick", |_, _| async {
        JobResult::Err(JobError::Permanent("the tick broke".into()))
    });
    let mut config = WorkerConfig::new("w", 1);
    config.poll = Duration::from_millis(20);
    let (stop, run) = start(&pool, registry, config);
    let started = std::time::Instant::now();
    let (ok, error) = loop {
        let row: (Option<bool>, Option<String>) = sqlx::query_as(
            "select last_ok, last_error from scheduled_jobs where name = 'test.tick'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if row.0.is_some() {
            break row;
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.send(true).unwrap();
    run.await.unwrap();
    assert_eq!(
        (ok, error.as_deref()),
        (Some(false), Some("the tick broke"))
    );
}
