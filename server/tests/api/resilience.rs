//! Overload is an answer, not a crash; a server stops cleanly; several start at once; what it
//! does is counted on its private /metrics address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::rest::bearer;
use crate::weekly_series;
use crate::{joined, new_society, person, spawn_app, spawn_app_on, spawn_app_with};

/// A pool of `max` connections on the test's database that gives up waiting after `wait`.
async fn small_pool(pool: &PgPool, max: u32, wait: Duration) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(wait)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap()
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> u64 {
    headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After in {headers:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn with_every_connection_busy_the_answer_is_503_with_retry_after_never_500(pool: PgPool) {
    let small = small_pool(&pool, 4, Duration::from_millis(300)).await;
    let app = spawn_app_on(small.clone(), |c| c.job_concurrency = 0).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let signed_in = app.other_browser();
    signed_in.sign_in_oidc("member", "member-pass").await;
    // Something else holds every connection (the live listener keeps one of its own).
    let mut held = Vec::new();
    while let Ok(conn) = small.acquire().await {
        held.push(conn);
    }
    assert!(!held.is_empty());
    let visitor = app.other_browser();
    for (who, path) in [
        (&visitor, "/s/harbour"),
        (&signed_in, "/me"),
        (&signed_in, "/s/harbour/calendar"),
        (&signed_in, "/api/v1/bookings"),
    ] {
        let r = who.get(path).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(retry_after(r.headers()) >= 1, "{path}");
    }
    let r = signed_in.call("my_bookings", &[]).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after(r.headers()) >= 1);
    assert!(r.text().await.unwrap().contains("Unavailable"));
    // Signing out writes the session: that too is a 503, not the session layer's 500.
    let r = signed_in
        .client
        .post(signed_in.url("/auth/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The database is free again: everything answers.
    drop(held);
    assert_eq!(signed_in.get("/me").await.status(), StatusCode::OK);
    assert_eq!(visitor.get("/s/harbour").await.status(), StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rush_on_one_session_gets_201s_and_503s_to_retry_and_exactly_capacity(pool: PgPool) {
    let small = small_pool(&pool, 6, Duration::from_millis(1500)).await;
    let app = spawn_app_on(small, |c| c.job_concurrency = 0).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (admin, _, _) = joined(&app, "harbour", "admin-a", "admin", "approved").await;
    let (_trainer, _, trainer_id) = joined(&app, "harbour", "trainer", "trainer", "approved").await;
    let (_, sessions) = weekly_series(&admin, &trainer_id).await;
    let session = sessions[0].clone();
    sqlx::query("update occurrences set capacity = 5 where id = $1::uuid")
        .bind(&session)
        .execute(&pool)
        .await
        .unwrap();
    let mut members = Vec::new();
    for n in 0..24 {
        let (browser, _, id) = crate::quick_person(&app, &format!("rusher{n}")).await;
        crate::put_membership(&pool, "harbour", &id, "member", "approved").await;
        members.push(browser);
    }
    // Every member sends three requests at once (one key: a client retrying), and retries
    // whatever says "retry".
    let mut tasks = Vec::new();
    for (n, member) in members.iter().enumerate() {
        for _ in 0..3 {
            let (client, url, session) = (
                member.client.clone(),
                member.url("/api/v1/bookings"),
                session.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                loop {
                    let r = client
                        .post(url.clone())
                        .header("idempotency-key", format!("rush-{n}"))
                        .json(&json!({ "occurrence_id": session }))
                        .send()
                        .await
                        .unwrap();
                    let status = r.status();
                    statuses.push(status);
                    if status == StatusCode::CREATED {
                        return statuses;
                    }
                    assert!(
                        matches!(
                            status,
                            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
                        ),
                        "{status}: {}",
                        r.text().await.unwrap()
                    );
                    let wait = retry_after(r.headers());
                    tokio::time::sleep(Duration::from_millis(200 * wait.min(3))).await;
                }
            }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert!(all.iter().all(|s| matches!(
        *s,
        StatusCode::CREATED | StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
    )));
    let (confirmed, waitlisted, rows): (i64, i64, i64) = sqlx::query_as(
        "select count(*) filter (where status = 'confirmed'), count(*) filter (where status = 'waitlisted'),
                count(distinct user_id)
           from bookings where occurrence_id = $1::uuid",
    )
    .bind(&session)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((confirmed, waitlisted, rows), (5, 19, 24));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_request_that_takes_too_long_is_answered_503(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), |c| c.request_timeout_secs = 1).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    // Someone holds the society's row: saving its settings waits behind them.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("select 1 from societies where slug = 'harbour' for update")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let started = Instant::now();
    let r = app
        .call(
            "update_society_settings",
            &[
                ("slug", "harbour"),
                ("name", "Harbour Rowing Club"),
                ("description", ""),
                ("time_zone", "Europe/Berlin"),
                ("join_policy", "approval"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after(r.headers()) >= 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    blocker.rollback().await.unwrap();
}

/// Reads `stream` until it ends (within `limit`); returns what it said.
async fn until_closed(stream: &mut reqwest::Response, limit: Duration) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(_) => return seen,
            Err(_) => panic!("the stream stayed open: {seen}"),
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn at_shutdown_readyz_turns_503_at_once_and_live_streams_end_with_a_reconnect_hint(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (admin, _, _) = joined(&app, "harbour", "admin-a", "admin", "approved").await;
    let (trainer, _, trainer_id) = joined(&app, "harbour", "trainer", "trainer", "approved").await;
    let (_, sessions) = weekly_series(&admin, &trainer_id).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let mut stream = trainer
        .get(&format!("/s/harbour/live?ids={}", sessions[0]))
        .await;
    assert_eq!(stream.status(), StatusCode::OK);
    let lifecycle = app.lifecycle.clone().unwrap();
    lifecycle.drain();
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Still serving while the load balancer catches up.
    assert_eq!(trainer.get("/my-sessions").await.status(), StatusCode::OK);
    lifecycle.end_streams();
    let said = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(said.contains("event: restart"), "{said}");
    assert!(said.contains("retry: 500"), "{said}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_live_stream_ends_when_its_reader_loses_access(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), |c| c.live_recheck_secs = 1).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (admin, _, _) = joined(&app, "harbour", "admin-a", "admin", "approved").await;
    let (_trainer, _, trainer_id) = joined(&app, "harbour", "trainer", "trainer", "approved").await;
    let (member, _, member_id) = joined(&app, "harbour", "max", "member", "approved").await;
    let (_, sessions) = weekly_series(&admin, &trainer_id).await;
    let mut stream = member
        .get(&format!("/s/harbour/live?ids={}", sessions[0]))
        .await;
    assert_eq!(stream.status(), StatusCode::OK);
    sqlx::query("update memberships set status = 'suspended' where user_id = $1::uuid")
        .bind(&member_id)
        .execute(&pool)
        .await
        .unwrap();
    let said = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        !said.contains("event: restart"),
        "let go, not told to come back: {said}"
    );
}

#[sqlx::test(migrations = false)]
async fn three_servers_starting_at_once_on_an_empty_database_migrate_once_and_all_serve(
    pool: PgPool,
) {
    let database = pool.connect_options().get_database().unwrap().to_string();
    let server_url = std::env::var("DATABASE_URL").unwrap();
    let url = format!("{}/{database}", server_url.rsplit_once('/').unwrap().0);
    let start = |url: String| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let public = format!("http://{addr}");
        let bind = addr.to_string();
        let mail = std::env::temp_dir().join(format!("roster-three-{}", addr.port()));
        let mail = mail.to_string_lossy().to_string();
        let config = server::config::Config::from_vars(&server::config::Vars::from_pairs(&[
            ("DATABASE_URL", &url),
            ("ROSTER_MAIL_DIR", &mail),
            ("ROSTER_PUBLIC_URL", &public),
            ("LEPTOS_SITE_ADDR", &bind),
            ("ROSTER_DB_MAX_CONNECTIONS", "4"),
            ("ROSTER_DEMO_DATA", "true"),
        ]))
        .unwrap();
        let pool = server::connect(&config)
            .await
            .expect("migrates or waits its turn");
        let options = leptos::prelude::LeptosOptions::builder()
            .output_name("roster")
            .build();
        let built = server::build(&config, pool, options).await.expect("starts");
        tokio::spawn(async move {
            axum::serve(
                listener,
                built
                    .router
                    .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        std::mem::forget(built.background);
        addr
    };
    let (a, b, c) = tokio::join!(start(url.clone()), start(url.clone()), start(url.clone()));
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "sql")
        })
        .count() as i64;
    let (applied, distinct): (i64, i64) = sqlx::query_as(
        "select count(*), count(distinct version) from _sqlx_migrations where success",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((applied, distinct), (files, files), "each migration once");
    assert_eq!(crate::count(&pool, "societies").await, 1, "the demo once");
    for addr in [a, b, c] {
        let ready = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        let page = reqwest::get(format!("http://{addr}/s/riverside-rowing"))
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn metrics_are_on_their_own_address_by_route_template(pool: PgPool) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let app = spawn_app_with(pool.clone(), |c| c.metrics_addr = Some(metrics_addr)).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (member, _, _) = person(&app, "counted").await;
    assert_eq!(member.get("/s/harbour").await.status(), StatusCode::OK);
    let (status, _) = bearer(&app, "nope").get("/api/v1/bookings").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Not on the public address.
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for wanted in [
        "roster_http_requests_total{method=\"GET\",route=\"/s/{slug}\",status=\"200\"}",
        "roster_http_requests_total{method=\"GET\",route=\"/api/v1/bookings\",status=\"401\"}",
        "roster_http_request_duration_seconds_bucket{method=\"GET\",route=\"/s/{slug}\",status=\"200\",le=\"0.02\"}",
        "roster_build_info{",
    ] {
        assert!(text.contains(wanted), "{wanted} missing:\n{text}");
    }
    // Routes are templates: no slug, id or token in a label.
    for line in text
        .lines()
        .filter(|l| l.starts_with("roster_http_requests_total"))
    {
        assert!(!line.contains("harbour"), "{line}");
    }
    // The sampled figures arrive within a few seconds.
    let started = Instant::now();
    loop {
        let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("roster_db_pool_connections{state=\"idle\"}")
            && text.contains("roster_db_pool_max_connections")
            && text.contains("roster_deliveries{channel=\"email\",state=\"queued\"}")
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
