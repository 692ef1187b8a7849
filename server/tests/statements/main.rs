//! What a page asks the database: every statement run while a request is served, from sqlx's
//! own query events (target `sqlx::query`), caught by a global tracing layer. This test has a
//! process of its own, so nothing else runs statements meanwhile except the app's own
//! background (the scheduler, the dispatcher and the job worker), which is told apart by its
//! spans.
//!
//!     cargo test -p server --test statements -- --nocapture   (prints each page's statements)

#[path = "../support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex, OnceLock};

use reqwest::StatusCode;
use sqlx::PgPool;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use support::{new_society, person, put_membership, spawn_app, weekly_series, TestApp};

/// The statements run since the last `of_page`, in order.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<Vec<String>>>);

struct Sql(String);

impl Visit for Sql {
    fn record_str(&mut self, field: &Field, value: &str) {
        if matches!(field.name(), "summary" | "db.statement") {
            self.0.push(' ');
            self.0.push_str(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "summary" | "db.statement") {
            self.0.push_str(&format!(" {value:?}"));
        }
    }
}

impl<S> Layer<S> for Statements
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        // The background's work: the scheduler's, the dispatcher's and the worker's spans
        // (`background`), and each job's (it names the job).
        if let Some(scope) = ctx.event_scope(event) {
            if scope.into_iter().any(|span| {
                span.name() == "background" || span.metadata().fields().field("job").is_some()
            }) {
                return;
            }
        }
        let mut sql = Sql(String::new());
        event.record(&mut sql);
        let sql = sql.0.split_whitespace().collect::<Vec<_>>().join(" ");
        if !is_background(&sql) {
            self.0.lock().unwrap().push(sql);
        }
    }
}

/// Statements that are not a page's own work, whatever span they ran in: sqlx's type lookups
/// on a new connection (`pg_catalog`, `regtype`), and the queue's and the outbox's polls.
fn is_background(sql: &str) -> bool {
    [
        "pg_catalog.",
        "::regtype",
        "from jobs",
        "update jobs",
        "notification_outbox",
        "pg_notify",
    ]
    .iter()
    .any(|marker| sql.contains(marker))
}

/// The one global collector of this process.
fn statements() -> &'static Statements {
    static STATEMENTS: OnceLock<Statements> = OnceLock::new();
    STATEMENTS.get_or_init(|| {
        let statements = Statements::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(
                statements.clone().with_filter(
                    // The app's spans too, to tell the jobs' statements apart.
                    tracing_subscriber::filter::Targets::new()
                        .with_target("sqlx::query", tracing::Level::TRACE)
                        .with_default(tracing::Level::INFO),
                ),
            ),
        )
        .expect("no other subscriber in this process");
        statements
    })
}

impl Statements {
    /// The statements `path` runs when `browser` loads it.
    async fn of_page(&self, browser: &TestApp, path: &str) -> Vec<String> {
        self.0.lock().unwrap().clear();
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.unwrap();
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Reads of one `users` row by id (the signed-in user).
fn user_reads(statements: &[String]) -> usize {
    statements
        .iter()
        .filter(|s| s.contains("from users where id = $1"))
        .count()
}

/// Waits until the background has nothing left to do (the booking's notifications dispatched
/// and their jobs run), so that what the pages run is all that runs.
async fn settle(pool: &PgPool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let busy: i64 = sqlx::query_scalar(
            "select (select count(*) from notification_outbox where dispatched_at is null)
                  + (select count(*) from jobs where status in ('queued', 'running') and run_at <= now())",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if busy == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the background did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Lookups of a society by its slug.
fn society_reads(statements: &[String]) -> usize {
    statements
        .iter()
        .filter(|s| s.contains("slug = $1"))
        .count()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_page_works_out_who_is_asking_once_and_asks_no_more_than_it_did(pool: PgPool) {
    let statements = statements();
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (admin, _, admin_id) = person(&app, "admin-a").await;
    let (trainer, _, trainer_id) = person(&app, "trainer").await;
    let (member, _, member_id) = person(&app, "member").await;
    put_membership(&pool, "harbour", &admin_id, "admin", "approved").await;
    put_membership(&pool, "harbour", &trainer_id, "trainer", "approved").await;
    put_membership(&pool, "harbour", &member_id, "member", "approved").await;
    let (_, sessions) = weekly_series(&admin, &trainer_id).await;
    let session = format!("/s/harbour/sessions/{}", sessions[0]);
    let booked = member
        .call("book_session", &[("slug", "harbour"), ("id", &sessions[0])])
        .await;
    assert_eq!(booked.status(), StatusCode::OK);
    settle(&pool).await;

    // The most statements each page may run: what it runs today, two of them the session row
    // and the signed-in user. A page that asks once more fails here; lower a number when a
    // page asks less (issue 18's goal is two round trips a page).
    let pages: [(&str, &TestApp, &str, usize); 8] = [
        ("calendar (week), member", &member, "/s/harbour/calendar", 5),
        ("session page, member", &member, &session, 5),
        ("session page, trainer", &trainer, &session, 7),
        ("session page, admin", &admin, &session, 9),
        ("my bookings", &member, "/my-bookings", 4),
        ("my sessions, trainer", &trainer, "/my-sessions", 3),
        ("members, admin", &admin, "/s/harbour/members", 5),
        ("requests, admin", &admin, "/s/harbour/requests", 5),
    ];
    let mut table = format!(
        "{:<26} {:>10} {:>8} {:>11} {:>14}\n",
        "page", "statements", "at most", "user reads", "society reads"
    );
    for (name, browser, path, most) in pages {
        // Twice: the first load of a page may warm a cache the second does not need.
        statements.of_page(browser, path).await;
        let run = statements.of_page(browser, path).await;
        assert!(
            !run.is_empty(),
            "{name}: no statement seen (is sqlx logging on?)"
        );
        println!("--- {name}\n{}", run.join("\n"));
        table += &format!(
            "{name:<26} {:>10} {most:>8} {:>11} {:>14}\n",
            run.len(),
            user_reads(&run),
            society_reads(&run)
        );
        assert_eq!(
            user_reads(&run),
            1,
            "{name} read the signed-in user {} times:\n{}",
            user_reads(&run),
            run.join("\n")
        );
        assert!(
            society_reads(&run) <= 1,
            "{name} looked up the society {} times:\n{}",
            society_reads(&run),
            run.join("\n")
        );
        assert!(
            run.len() <= most,
            "{name} ran {} statements, more than {most}:\n{}",
            run.len(),
            run.join("\n")
        );
    }
    println!("{table}");
}
