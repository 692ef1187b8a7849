//! What a page asks the database: the statements run while a request is served, from sqlx's
//! own query events (target `sqlx::query`), caught by a tracing layer on the test's thread
//! (the test runtime runs the server on that thread too). Leptos runs a page's data loads as
//! tasks of their own, outside the request's span, so the window of the request is what
//! counts; the background tasks' polls can add a statement or two to the totals printed.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use sqlx::PgPool;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::events::weekly_series;
use crate::{new_society, person, put_membership, spawn_app, TestApp};

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
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut sql = Sql(String::new());
        event.record(&mut sql);
        // sqlx looks up a type once per new connection: not the page's own work.
        if sql.0.contains("pg_catalog.") {
            return;
        }
        self.0
            .lock()
            .unwrap()
            .push(sql.0.split_whitespace().collect::<Vec<_>>().join(" "));
    }
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

#[sqlx::test(migrations = "../migrations")]
async fn a_page_works_out_who_is_asking_once(pool: PgPool) {
    let statements = Statements::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(
            statements.clone().with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("sqlx::query", tracing::Level::TRACE)
                    .with_default(tracing::Level::INFO),
            ),
        ),
    );
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

    let pages: [(&str, &TestApp, &str); 8] = [
        ("calendar (week), member", &member, "/s/harbour/calendar"),
        ("session page, member", &member, &session),
        ("session page, trainer", &trainer, &session),
        ("session page, admin", &admin, &session),
        ("my bookings", &member, "/my-bookings"),
        ("my sessions, trainer", &trainer, "/my-sessions"),
        ("members, admin", &admin, "/s/harbour/members"),
        ("requests, admin", &admin, "/s/harbour/requests"),
    ];
    println!("{:<26} {:>10} {:>11}", "page", "statements", "user reads");
    for (name, browser, path) in pages {
        let run = statements.of_page(browser, path).await;
        assert!(
            !run.is_empty(),
            "{name}: no statement seen (is sqlx logging on?)"
        );
        println!("{name:<26} {:>10} {:>11}", run.len(), user_reads(&run));
        assert_eq!(
            user_reads(&run),
            1,
            "{name} read the signed-in user {} times:\n{}",
            user_reads(&run),
            run.join("\n")
        );
    }
}
