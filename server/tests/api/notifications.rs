//! Mail through the job worker and a real SMTP server: the mail server goes down while people
//! book, cancel and move up; once it is back every message arrives, none twice.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::weekly_series;
use crate::{captured_mail_in, decode_mail, joined, new_society, spawn_app_with, TestApp};
use server::config::MailConfig;

/// A capture server of our own (the shared one must stay up for the other tests).
struct Smtp {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Smtp {
    fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("roster-smtp-{port}-{}", std::process::id()));
        Self {
            port,
            dir,
            child: None,
        }
    }

    fn start(&mut self) {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../end2end/support/smtp_capture.py"
        );
        let mut child = Command::new("python3")
            .args([script, "--port", &self.port.to_string(), "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the capture server");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert!(line.starts_with("smtp-capture ready"), "{line}");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The id of the society `slug`.
pub async fn society_id(pool: &PgPool, slug: &str) -> uuid::Uuid {
    sqlx::query_scalar("select id from societies where slug = $1")
        .bind(slug)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// An approval notice to `member` (already dispatched) with an email delivery in `status`.
async fn email_delivery(
    pool: &PgPool,
    society: uuid::Uuid,
    member: &str,
    status: &str,
    attempts: i32,
    last_error: Option<&str>,
) -> i64 {
    sqlx::query_scalar(
        "with o as (insert into notification_outbox (society_id, recipient_id, kind, payload, dispatched_at)
                    values ($1, $2::uuid, 'membership.approved', '{}', now()) returning id)
         insert into notification_deliveries (outbox_id, channel, status, attempts, last_error)
         select id, 'email', $3::delivery_status, $4, $5 from o returning id",
    )
    .bind(society)
    .bind(member)
    .bind(status)
    .bind(attempts)
    .bind(last_error)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn delivery_states(pool: &PgPool) -> Vec<(String, i32)> {
    sqlx::query_as("select status::text, attempts from notification_deliveries order by id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn wait_until(pool: &PgPool, what: &str, done: impl Fn(&[(String, i32)]) -> bool) {
    let started = std::time::Instant::now();
    loop {
        let states = delivery_states(pool).await;
        if done(&states) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: deliveries are {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

async fn book(who: &TestApp, session: &str) -> serde_json::Value {
    let r = who
        .call("book_session", &[("slug", "harbour"), ("id", session)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn with_smtp_down_for_a_while_every_message_arrives_once(pool: PgPool) {
    let mut smtp = Smtp::new();
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    // Two server processes on one database: people sign in through the first (its sign-in
    // links go through the shared capture server at once); it runs no job worker. The second
    // one's worker delivers every notification through our own mail server.
    let app = spawn_app_with(pool.clone(), |c| c.job_concurrency = 0).await;
    let worker = spawn_app_with(pool.clone(), |c| {
        c.mail = MailConfig::Smtp(url.clone().into());
        c.job_backoff_ms = 300;
    })
    .await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (admin, _, _) = joined(&app, "harbour", "admin-a", "admin", "approved").await;
    let (_trainer, trainer_email, trainer_id) =
        joined(&app, "harbour", "trainer", "trainer", "approved").await;
    let (max, _, _) = joined(&app, "harbour", "max", "member", "approved").await;
    let (jo, jo_email, _) = joined(&app, "harbour", "jo", "member", "approved").await;
    let (_event, sessions) = weekly_series(&admin, &trainer_id).await;
    let first = sessions[0].as_str();
    sqlx::query("update occurrences set capacity = 1 where id = $1::uuid")
        .bind(first)
        .execute(&pool)
        .await
        .unwrap();

    // The mail server is down: Max takes the only spot, Jo waits, Max cancels (Jo moves up),
    // then the admin cancels the session.
    let max_booking = book(&max, first).await;
    book(&jo, first).await;
    let cancelled = max
        .call(
            "cancel_booking",
            &[("id", max_booking["id"].as_str().unwrap())],
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let reason = "The river is in flood";
    let called_off = admin
        .call(
            "cancel_session",
            &[("slug", "harbour"), ("id", first), ("reason", reason)],
        )
        .await;
    assert_eq!(called_off.status(), StatusCode::OK);
    // Jo: moved up, then cancelled; the trainer: cancelled. (Max's own cancellation and the
    // bookings are in the app only, by default.)
    wait_until(&pool, "every delivery tried while SMTP is down", |s| {
        s.len() == 3
            && s.iter()
                .all(|(status, attempts)| status == "failed" && *attempts >= 1)
    })
    .await;

    smtp.start();
    wait_until(&pool, "all sent once SMTP is back", |s| {
        s.len() == 3 && s.iter().all(|(status, _)| status == "sent")
    })
    .await;
    // Give a duplicate the chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_jo = captured_mail_in(&smtp.dir, &jo_email);
    let to_trainer = captured_mail_in(&smtp.dir, &trainer_email);
    assert_eq!((to_jo.len(), to_trainer.len()), (2, 1));
    let mut ids: Vec<&str> = to_jo
        .iter()
        .chain(&to_trainer)
        .map(|m| header(m, "Message-ID").expect("a Message-ID"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three different messages");

    let subjects: Vec<&str> = to_jo
        .iter()
        .map(|m| header(m, "Subject").unwrap())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("You have a spot: Squad training")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("Cancelled: Squad training")),
        "{subjects:?}"
    );
    let cancelled_mail = to_trainer[0].clone();
    assert!(
        cancelled_mail.contains("multipart/alternative"),
        "a text and an HTML part"
    );
    let text = decode_mail(&cancelled_mail);
    assert!(text.contains(reason), "{text}");
    // The time is the society's local time with its zone named.
    assert!(text.contains(" CET") || text.contains(" CEST"), "{text}");
    let link = format!("{}s/harbour/sessions/{first}", worker.base);
    assert!(text.contains(&link), "{text}");
    let page = app
        .other_browser()
        .get(&format!("/s/harbour/sessions/{first}"))
        .await;
    assert_ne!(page.status(), StatusCode::NOT_FOUND);
    assert!(text.contains(&format!("{}notifications/preferences", worker.base)));
}

#[sqlx::test(migrations = "../migrations")]
async fn only_platform_admins_see_and_run_the_scheduled_jobs(pool: PgPool) {
    let app = crate::spawn_app(pool.clone()).await;
    let (member, _, _) = crate::person(&app, "member").await;
    let visitor = app.other_browser();
    assert_eq!(
        visitor.call("jobs_overview", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        member.call("jobs_overview", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        member
            .call("run_scheduled_job", &[("name", "cleanup.jobs")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    app.sign_in_oidc("admin", "admin-pass").await;
    let overview: serde_json::Value = app.call("jobs_overview", &[]).await.json().await.unwrap();
    let names: Vec<&str> = overview["scheduled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), server::jobs::SCHEDULES.len(), "{names:?}");
    assert!(names.contains(&"sessions.reminders"));
    assert_eq!(
        app.call("run_scheduled_job", &[("name", "no.such.job")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let run = app
        .call("run_scheduled_job", &[("name", "cleanup.jobs")])
        .await;
    assert_eq!(run.status(), StatusCode::OK);
    // The worker runs it and the page says how it went.
    let started = std::time::Instant::now();
    loop {
        let ok: Option<bool> =
            sqlx::query_scalar("select last_ok from scheduled_jobs where name = 'cleanup.jobs'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if ok == Some(true) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = app.page(app.url("/admin/jobs")).await;
    assert!(
        page.contains(r#"data-name="cleanup.jobs" data-last="ok""#),
        "{page}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn deliveries_are_shown_and_retried_for_their_societys_admins_only(pool: PgPool) {
    let app = crate::spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    new_society(&app, "river").await;
    let (harbour_admin, _, _) = joined(&app, "harbour", "admin-h", "admin", "approved").await;
    let (river_admin, _, _) = joined(&app, "river", "admin-r", "admin", "approved").await;
    let (member, _, member_id) = joined(&app, "harbour", "member", "member", "approved").await;
    // A message to the member that gave up (dead), as after days of a broken mail server.
    let society = society_id(&pool, "harbour").await;
    let delivery = email_delivery(
        &pool,
        society,
        &member_id,
        "dead",
        10,
        Some("connection refused"),
    )
    .await;
    let id = delivery.to_string();
    for (who, browser, expected) in [
        ("river's admin", &river_admin, StatusCode::FORBIDDEN),
        ("a member", &member, StatusCode::FORBIDDEN),
    ] {
        let list = browser
            .call("society_deliveries", &[("slug", "harbour")])
            .await;
        assert_eq!(list.status(), expected, "{who} listing");
        let retry = browser
            .call("retry_delivery", &[("slug", "harbour"), ("id", &id)])
            .await;
        assert_eq!(retry.status(), expected, "{who} retrying");
    }
    // River's admin cannot reach it through their own society either.
    let retry = river_admin
        .call("retry_delivery", &[("slug", "river"), ("id", &id)])
        .await;
    assert_eq!(retry.status(), StatusCode::NOT_FOUND);

    let list: serde_json::Value = harbour_admin
        .call(
            "society_deliveries",
            &[("slug", "harbour"), ("status", "dead")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["last_error"], "connection refused");
    let retry = harbour_admin
        .call("retry_delivery", &[("slug", "harbour"), ("id", &id)])
        .await;
    assert_eq!(retry.status(), StatusCode::OK);
    // The shared capture server is up: it goes out now.
    let started = std::time::Instant::now();
    loop {
        let status: String =
            sqlx::query_scalar("select status::text from notification_deliveries where id = $1")
                .bind(delivery)
                .fetch_one(&pool)
                .await
                .unwrap();
        if status == "sent" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = harbour_admin
        .page(harbour_admin.url("/s/harbour/deliveries"))
        .await;
    assert!(
        page.contains(r#"data-testid="delivery" data-status="sent""#),
        "{page}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_bell_counts_unread_notifications_until_they_are_read(pool: PgPool) {
    let app = crate::spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (member, _, member_id) = joined(&app, "harbour", "member", "member", "approved").await;
    let society = society_id(&pool, "harbour").await;
    for _ in 0..2 {
        sqlx::query(
            "insert into notification_outbox (society_id, recipient_id, kind, payload)
             values ($1, $2::uuid, 'membership.approved', '{}')",
        )
        .bind(society)
        .bind(&member_id)
        .execute(&pool)
        .await
        .unwrap();
    }
    let started = std::time::Instant::now();
    while !member
        .page(member.url("/"))
        .await
        .contains(r#"data-testid="unread-count" class="badge">2<"#)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no bell count: {}",
            member.page(member.url("/")).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = member.page(member.url("/notifications")).await;
    assert!(list.contains("Welcome to Harbour"), "{list}");
    assert_eq!(
        member.call("mark_notifications_read", &[]).await.status(),
        StatusCode::OK
    );
    assert!(!member.page(member.url("/")).await.contains("unread-count"));
}

#[sqlx::test(migrations = "../migrations")]
async fn every_kind_of_message_arrives_once_with_local_times_and_working_links(pool: PgPool) {
    let app = crate::spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (member, email, member_id) = joined(&app, "harbour", "member", "member", "approved").await;
    // Everything by email, for this test.
    let mut on: Vec<(&str, String)> = Vec::new();
    for topic in app::notifications::Topic::ALL {
        on.push(("on[]", format!("{}.email", topic.as_str())));
    }
    let saved = member
        .call(
            "save_notification_preferences",
            &on.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let (_trainer, _, trainer_id) = joined(&app, "harbour", "trainer", "trainer", "approved").await;
    let (_event, sessions) = crate::weekly_series(&app, &trainer_id).await;
    let session = sessions[0].clone();
    let society = society_id(&pool, "harbour").await;
    let seen = crate::captured_mail_to(&email).len();
    // One of each kind; sessions on both sides of the end of summer time in Berlin.
    let kinds = app::notifications::NotificationKind::ALL;
    let mut tx = pool.begin().await.unwrap();
    for (n, kind) in kinds.iter().enumerate() {
        let starts_at = if n % 2 == 0 {
            "2026-10-24T16:00:00Z"
        } else {
            "2026-10-26T17:00:00Z"
        };
        app::notifications::db::enqueue(
            &mut tx,
            app::ids::SocietyId(society),
            app::ids::UserId(member_id.parse().unwrap()),
            *kind,
            serde_json::json!({
                "title": "Squad training", "starts_at": starts_at, "occurrence_id": session,
                "name": "Nora", "reason": "Storm", "strikes": 3, "until": "2026-11-02 18:00",
            }),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // Join requests go to admins as a digest; the member gets all the others.
    let expected = kinds.len();
    let started = std::time::Instant::now();
    while crate::captured_mail_to(&email).len() < seen + expected {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of {expected} arrived",
            crate::captured_mail_to(&email).len() - seen
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails: Vec<String> = crate::captured_mail_to(&email)[seen..].to_vec();
    assert_eq!(mails.len(), expected, "each once");
    let texts: Vec<String> = mails.iter().map(|m| decode_mail(m)).collect();
    let reminder = texts
        .iter()
        .find(|t| t.contains("Reminder: Squad training"))
        .expect("the reminder");
    assert!(
        reminder.contains("Sat 24 Oct 2026, 18:00 CEST")
            || reminder.contains("Mon 26 Oct 2026, 18:00 CET"),
        "{reminder}"
    );
    assert!(texts.iter().any(|t| t.contains("18:00 CEST")));
    assert!(texts.iter().any(|t| t.contains("18:00 CET\r\n")
        || t.contains("18:00 CET.")
        || t.contains("18:00 CET ")));
    // Every link in them opens a page for the member.
    let mut links: Vec<String> = texts
        .iter()
        .flat_map(|t| {
            t.split_whitespace()
                .filter(|w| w.starts_with(app.base.as_str()))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    links.sort();
    links.dedup();
    assert!(links.len() >= 4, "{links:?}");
    // (Join requests link admins to the requests page: the member is no admin.)
    for link in links.into_iter().filter(|l| !l.ends_with("/requests")) {
        let response = member.client.get(&link).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{link}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_delivery_found_mid_send_is_not_sent_again_but_shown_in_doubt(pool: PgPool) {
    let app = crate::spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (_member, email, member_id) = joined(&app, "harbour", "member", "member", "approved").await;
    let society = society_id(&pool, "harbour").await;
    // A worker marked it `sending`, the message may have left, and then the worker died: the
    // job comes back after its visibility timeout and finds the delivery still `sending`.
    let delivery = email_delivery(&pool, society, &member_id, "sending", 1, None).await;
    let seen = crate::captured_mail_to(&email).len();
    let mut conn = pool.acquire().await.unwrap();
    app::jobs::queue::enqueue(&mut conn, app::notifications::deliver::job(delivery))
        .await
        .unwrap();
    drop(conn);
    let started = std::time::Instant::now();
    let (status, error) = loop {
        let row: (String, Option<String>) = sqlx::query_as(
            "select status::text, last_error from notification_deliveries where id = $1",
        )
        .bind(delivery)
        .fetch_one(&pool)
        .await
        .unwrap();
        if row.0 != "sending" {
            break row;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still sending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, "dead");
    assert!(error.unwrap().starts_with("in doubt"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        crate::captured_mail_to(&email).len(),
        seen,
        "not sent a second time"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_waitlist_mail_says_which_place_in_line(pool: PgPool) {
    let app = crate::spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (_trainer, _, trainer_id) = joined(&app, "harbour", "trainer", "trainer", "approved").await;
    let (_event, sessions) = crate::weekly_series(&app, &trainer_id).await;
    let first = sessions[0].as_str();
    sqlx::query("update occurrences set capacity = 1 where id = $1::uuid")
        .bind(first)
        .execute(&pool)
        .await
        .unwrap();
    let (max, _, _) = joined(&app, "harbour", "max", "member", "approved").await;
    book(&max, first).await;
    // Jo and Kim want booking news by email; the session is full, so they wait in line.
    let mut waiting = Vec::new();
    for who in ["jo", "kim"] {
        let (browser, email, _) = joined(&app, "harbour", who, "member", "approved").await;
        let saved = browser
            .call(
                "save_notification_preferences",
                &[("on[]", "bookings.email")],
            )
            .await;
        assert_eq!(saved.status(), StatusCode::OK);
        let seen = crate::captured_mail_to(&email).len();
        let booked = book(&browser, first).await;
        assert_eq!(booked["status"], "waitlisted");
        waiting.push((email, seen, booked["waitlist_position"].as_i64().unwrap()));
    }
    for (email, seen, place) in waiting {
        let mail = crate::wait_for_mail(&email, seen).await;
        assert!(mail.contains("On the waitlist: Squad training"), "{mail}");
        assert!(
            mail.contains(&format!("You are number {place} on the waitlist.")),
            "the mail states the place ({place}):\n{mail}"
        );
    }
}
