//! Sign-in by emailed link, through the real SMTP server.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::{
    address, attribute_after, captured_mail_to, link_in, location, spawn_app, spawn_app_with,
    wait_for_mail,
};

#[sqlx::test(migrations = "../migrations")]
async fn an_emailed_link_signs_in_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let email = &address("link-once");
    let seen = captured_mail_to(email).len();
    let response = app
        .call("request_email_link", &[("email", email), ("next", "/me")])
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );

    let mail = wait_for_mail(email, seen).await;
    assert!(mail.contains("Subject: Your sign-in link for Roster"));
    let link = url::Url::parse(&link_in(&mail)).unwrap();
    assert_eq!(link.path(), "/sign-in/email");
    // The link carries where to go next; the database keeps only the token's hash.
    assert_eq!(
        link.query_pairs()
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.into_owned()),
        Some("/me".into())
    );

    // Opening the link does not use it up (mail scanners open links too); the button does.
    let page = app.page(link.clone()).await;
    let token = attribute_after(&page, "name=\"token\"", "value");
    let next = attribute_after(&page, "name=\"next\"", "value");
    assert_eq!(next, "/me");
    let post = |client: &reqwest::Client| {
        client
            .post(app.url("/auth/email"))
            .header("sec-fetch-site", "same-origin")
            .form(&[("token", token.clone()), ("next", next.clone())])
            .send()
    };
    let response = post(&app.client).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/me");
    let me = app.me().await;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["name"], email.split('@').next().unwrap());
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["is_platform_admin"], false);

    let other = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replay = post(&other).await.unwrap();
    assert_eq!(location(&replay), "/sign-in?error=link");
    let who = other
        .post(app.url("/api/current_user"))
        .send()
        .await
        .unwrap();
    assert_eq!(who.text().await.unwrap(), "null");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_expired_link_does_not_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let email = &address("expired");
    let seen = captured_mail_to(email).len();
    app.call("request_email_link", &[("email", email)]).await;
    let link = url::Url::parse(&link_in(&wait_for_mail(email, seen).await)).unwrap();
    let token = link
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .to_string();
    sqlx::query("update email_login_tokens set expires_at = now() - interval '1 minute'")
        .execute(&app.pool)
        .await
        .unwrap();

    let response = app
        .client
        .post(app.url("/auth/email"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/sign-in?error=link");
    assert!(app.me().await.is_null());
    let page = app.get("/sign-in?error=link").await.text().await.unwrap();
    assert!(page.contains("expired or was already used"));
}

#[sqlx::test(migrations = "../migrations")]
async fn configured_admin_emails_become_platform_admins(pool: PgPool) {
    let email = &address("boss");
    let configured = email.clone();
    let app = spawn_app_with(pool, move |c| c.admin_emails = vec![configured]).await;
    let seen = captured_mail_to(email).len();
    app.call("request_email_link", &[("email", &email.to_uppercase())])
        .await;
    let link = link_in(&wait_for_mail(email, seen).await);
    let token = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .to_string();
    app.client
        .post(app.url("/auth/email"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(app.me().await["is_platform_admin"], true);
}

#[sqlx::test(migrations = "../migrations")]
async fn requests_are_rate_limited_and_bad_addresses_get_a_clear_4xx(pool: PgPool) {
    let app = spawn_app(pool).await;
    // Asking for someone's address again and again never refuses (the owner must not be
    // locked out): a few links reach the inbox, then no more mail.
    let busy = &address("busy");
    for _ in 0..app::auth::db::MAX_LINKS_PER_EMAIL + 2 {
        let response = app.call("request_email_link", &[("email", busy)]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let mails = app::auth::db::MAX_LINKS_PER_EMAIL as usize;
    wait_for_mail(busy, mails - 1).await;
    assert_eq!(captured_mail_to(busy).len(), mails);
    // One client asking for many addresses is slowed down: 429 with Retry-After.
    let mut last = None;
    let left = app::auth::db::MAX_LINKS_PER_CLIENT - app::auth::db::MAX_LINKS_PER_EMAIL;
    for i in 0..left {
        let response = app
            .call(
                "request_email_link",
                &[("email", &address(&format!("many{i}")))],
            )
            .await;
        last = Some(response.status());
    }
    assert_eq!(last, Some(StatusCode::OK));
    let response = app
        .call("request_email_link", &[("email", &address("one-more"))])
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u32 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 60, "wait until the window frees: {wait}");
    assert!(response.text().await.unwrap().contains("RateLimited"));

    let response = app
        .call("request_email_link", &[("email", "not an email")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["Invalid"]["field"], "email");

    let response = app.call("request_email_link", &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let tokens: i64 = sqlx::query_scalar("select count(*) from email_login_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        tokens,
        app::auth::db::MAX_LINKS_PER_CLIENT,
        "nothing more was written"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_next_path_to_another_site_is_ignored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let email = &address("elsewhere");
    let seen = captured_mail_to(email).len();
    app.call(
        "request_email_link",
        &[("email", email), ("next", "//evil.example/x")],
    )
    .await;
    let link = url::Url::parse(&link_in(&wait_for_mail(email, seen).await)).unwrap();
    assert!(link.query_pairs().all(|(k, _)| k != "next"), "{link}");
    let token = link
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .to_string();
    // A tampered form is stopped at the door too.
    let response = app
        .client
        .post(app.url("/auth/email"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("token", token.as_str()), ("next", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/");
    assert_eq!(app.me().await["email"], email.as_str());
}
