//! Creating societies over HTTP: who may, and what bad input gets.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::{count, spawn_app};

const HARBOUR: [(&str, &str); 3] = [
    ("name", "Harbour Rowing Club"),
    ("slug", "harbour-rowing"),
    ("time_zone", "Europe/Amsterdam"),
];

#[sqlx::test(migrations = "../migrations")]
async fn a_platform_admin_creates_a_society_and_is_its_admin(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    let response = app.call("create_society", &HARBOUR).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(crate::location(&response), "/s/harbour-rowing");
    let society: serde_json::Value = response.json().await.unwrap();
    assert_eq!(society["time_zone"], "Europe/Amsterdam");

    let memberships: serde_json::Value =
        app.call("my_memberships", &[]).await.json().await.unwrap();
    assert_eq!(memberships[0]["role"], "admin");
    assert_eq!(memberships[0]["status"], "approved");
    assert_eq!(count(&app.pool, "audit_log").await, 1);

    let page = app.get("/s/harbour-rowing").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Harbour Rowing Club"));
    let listed: serde_json::Value = app.call("list_societies", &[]).await.json().await.unwrap();
    assert_eq!(listed[0]["slug"], "harbour-rowing");
}

#[sqlx::test(migrations = "../migrations")]
async fn others_cannot_create_a_society(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.call("create_society", &HARBOUR).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    app.sign_in_oidc("member", "member-pass").await;
    let response = app.call("create_society", &HARBOUR).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.text().await.unwrap(), "\"Forbidden\"");
    assert_eq!(count(&app.pool, "societies").await, 0);
    assert_eq!(count(&app.pool, "audit_log").await, 0);

    let page = app.get("/societies/new").await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_invalid_slug_or_time_zone_gets_a_clear_4xx_and_nothing_is_written(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("name", "Harbour"),
                ("slug", "Harbour Rowing!"),
                ("time_zone", "Europe/Berlin"),
            ],
            "slug",
        ),
        (
            &[
                ("name", "Harbour"),
                ("slug", "harbour"),
                ("time_zone", "Europe/Atlantis"),
            ],
            "time_zone",
        ),
        (
            &[
                ("name", ""),
                ("slug", "harbour"),
                ("time_zone", "Europe/Berlin"),
            ],
            "name",
        ),
        (
            &[
                ("name", &"x".repeat(5000)),
                ("slug", "harbour"),
                ("time_zone", "UTC"),
            ],
            "name",
        ),
    ];
    for (form, field) in cases {
        let response = app.call("create_society", form).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["Invalid"]["field"], field);
        assert!(!body["Invalid"]["message"].as_str().unwrap().is_empty());
    }
    let response = app.call("create_society", &[("name", "Harbour")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count(&app.pool, "societies").await, 0);
    assert_eq!(count(&app.pool, "memberships").await, 0);
    assert_eq!(count(&app.pool, "audit_log").await, 0);
}
