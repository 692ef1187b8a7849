//! Health, request ids, error pages and cross-site request rejection.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::spawn_app;

#[sqlx::test(migrations = "../migrations")]
async fn health_and_readiness(pool: PgPool) {
    let app = spawn_app(pool).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

#[sqlx::test(migrations = "../migrations")]
async fn every_response_carries_a_request_id(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = app.get("/").await;
    let b = app.get("/").await;
    let id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(id(&a).len(), 36);
    assert_ne!(id(&a), id(&b));
    let given = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(id(&given), "trace-me-42");
}

#[sqlx::test(migrations = "../migrations")]
async fn friendly_error_pages_with_the_right_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let missing = app.get("/no/such/page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().await.unwrap().contains("Page not found"));

    let society = app.get("/s/no-such-society").await;
    assert_eq!(society.status(), StatusCode::NOT_FOUND);

    let me = app.get("/me").await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let html = me.text().await.unwrap();
    assert!(html.contains("Please sign in") && html.contains("/sign-in?next=/me"));
}

#[sqlx::test(migrations = "../migrations")]
async fn cross_site_posts_are_rejected(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    let form = [
        ("name", "Evil Club"),
        ("slug", "evil-club"),
        ("time_zone", "UTC"),
    ];

    let by_origin = app
        .client
        .post(app.url("/api/create_society"))
        .header("origin", "http://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(by_origin.status(), StatusCode::FORBIDDEN);
    let by_fetch_site = app
        .client
        .post(app.url("/api/create_society"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", app.base.origin().ascii_serialization())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(by_fetch_site.status(), StatusCode::FORBIDDEN);
    let logout = app
        .client
        .post(app.url("/auth/logout"))
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN);

    let societies: i64 = sqlx::query_scalar("select count(*) from societies")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(societies, 0);
    assert_eq!(app.me().await["name"], "Ada Admin", "still signed in");
    assert_eq!(
        app.call("create_society", &form).await.status(),
        StatusCode::OK,
        "same-origin works"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn responses_are_compressed_when_the_browser_accepts_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    for encoding in ["br", "gzip"] {
        let response = app
            .client
            .get(app.url("/"))
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers().get("content-encoding").unwrap(),
            encoding
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_demo_society_has_bookings_a_waitlist_a_strike_and_attendance_once(pool: PgPool) {
    server::demo::load(&pool).await.unwrap();
    server::demo::load(&pool).await.unwrap();
    let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from bookings where status = 'confirmed'),
                (select count(*) from bookings where status = 'waitlisted'),
                (select count(*) from strikes where reason = 'no_show'),
                (select count(*) from bookings where attendance is not null),
                (select count(*) from enrolments)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (confirmed, waitlisted, strikes, attended, enrolments) = counts;
    assert_eq!((waitlisted, strikes, attended, enrolments), (1, 1, 2, 1));
    // The taster (2), last week's session (2), and the term's sessions whose booking has
    // opened (the rest are booked as their window opens).
    assert!(
        confirmed > 4,
        "the taster, last week's session and a term: {confirmed}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_page_not_found_still_knows_who_is_signed_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (lost, _, _) = crate::person(&app, "lost").await;
    let missing = lost.get("/no/such/page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let html = missing.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    // The shell's account menu, as on every page: the fallback has the server's state too.
    assert!(html.contains("data-testid=\"user-name\""), "{html}");
}
