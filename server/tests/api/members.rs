//! Joining a society and the approval queue over HTTP.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::spawn_app;

const CLUB: [(&str, &str); 3] = [
    ("name", "Harbour Rowing Club"),
    ("slug", "harbour"),
    ("time_zone", "Europe/Berlin"),
];

#[sqlx::test(migrations = "../migrations")]
async fn a_member_asks_to_join_and_the_admin_approves(pool: PgPool) {
    let admin = spawn_app(pool).await;
    admin.sign_in_oidc("admin", "admin-pass").await;
    assert_eq!(
        admin.call("create_society", &CLUB).await.status(),
        StatusCode::OK
    );

    let member = admin.other_browser();
    member.sign_in_oidc("member", "member-pass").await;
    let asked = member
        .call(
            "request_membership",
            &[("slug", "harbour"), ("message", "Rowed at school")],
        )
        .await;
    assert_eq!(asked.status(), StatusCode::OK);
    assert_eq!(asked.text().await.unwrap(), "\"pending\"");

    let queue: serde_json::Value = admin
        .call("list_requests", &[("slug", "harbour")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queue[0]["name"], "Mia Member");
    assert_eq!(queue[0]["message"], "Rowed at school");
    let member_id = queue[0]["user_id"].as_str().unwrap().to_string();

    let decided = admin
        .call(
            "decide_request",
            &[
                ("slug", "harbour"),
                ("member", &member_id),
                ("decision", "approve"),
                ("reason", "Welcome"),
            ],
        )
        .await;
    assert_eq!(decided.status(), StatusCode::OK);
    let mine: serde_json::Value = member
        .call("my_membership", &[("slug", "harbour")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (mine["status"].as_str(), mine["role"].as_str()),
        (Some("approved"), Some("member"))
    );

    let again = admin
        .call(
            "decide_request",
            &[
                ("slug", "harbour"),
                ("member", &member_id),
                ("decision", "reject"),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let page = member.get("/s/harbour").await.text().await.unwrap();
    assert!(page.contains("You are a member"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_queue_is_for_the_societys_admins_and_bad_input_is_a_4xx(pool: PgPool) {
    let admin = spawn_app(pool).await;
    admin.sign_in_oidc("admin", "admin-pass").await;
    admin.call("create_society", &CLUB).await;
    let member = admin.other_browser();
    member.sign_in_oidc("member", "member-pass").await;

    assert_eq!(
        member
            .call("list_requests", &[("slug", "harbour")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        member.get("/s/harbour/requests").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin
            .call("list_requests", &[("slug", "nope")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let visitor = admin.other_browser();
    assert_eq!(
        visitor
            .call("request_membership", &[("slug", "harbour")])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let long = "x".repeat(1001);
    let too_long = member
        .call(
            "request_membership",
            &[("slug", "harbour"), ("message", &long)],
        )
        .await;
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad_id = admin
        .call(
            "decide_request",
            &[
                ("slug", "harbour"),
                ("member", "not-a-uuid"),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(bad_id.status(), StatusCode::BAD_REQUEST);
    let bad_decision = admin
        .call(
            "decide_request",
            &[
                ("slug", "harbour"),
                ("member", &uuid::Uuid::new_v4().to_string()),
                ("decision", "maybe"),
            ],
        )
        .await;
    assert_eq!(bad_decision.status(), StatusCode::BAD_REQUEST);
    let unknown = admin
        .call(
            "decide_request",
            &[
                ("slug", "harbour"),
                ("member", &uuid::Uuid::new_v4().to_string()),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let memberships: i64 = sqlx::query_scalar("select count(*) from memberships")
        .fetch_one(&admin.pool)
        .await
        .unwrap();
    assert_eq!(memberships, 1, "only the admin's own");
}
