//! Sign-in with the Keycloak-shaped provider: the full dance and every way it must fail.

use reqwest::StatusCode;
use sqlx::PgPool;
use url::Url;

use crate::{attribute_after, location, set_cookie, spawn_app, spawn_app_with};

fn with_query(url: &Url, name: &str, value: &str) -> Url {
    let mut out = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            (
                k.to_string(),
                if k == name {
                    value.to_string()
                } else {
                    v.to_string()
                },
            )
        })
        .collect();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

fn query(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

#[sqlx::test(migrations = "../migrations")]
async fn signs_in_with_pkce_state_nonce_and_reads_roles_from_the_access_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let auth_url = app.begin_login("/me").await;
    assert_eq!(query(&auth_url, "code_challenge_method"), "S256");
    assert!(!query(&auth_url, "state").is_empty() && !query(&auth_url, "nonce").is_empty());
    assert_eq!(
        query(&auth_url, "redirect_uri"),
        app.url("/auth/callback").as_str()
    );

    let callback = app.provider_login(auth_url, "admin", "admin-pass").await;
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/me");

    // The provider puts realm roles only into the (JWT) access token, like Keycloak.
    let me = app.me().await;
    assert_eq!(me["name"], "Ada Admin");
    assert_eq!(me["email"], "admin@example.org");
    assert_eq!(me["is_platform_admin"], true);
    let (issuer, subject): (String, String) = sqlx::query_as("select issuer, subject from users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(issuer, std::env::var("ROSTER_TEST_OIDC_ISSUER").unwrap());
    assert_eq!(subject, "kc-admin-0001");

    let page = app.get("/me").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("admin@example.org") && html.contains("Platform admin"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_user_without_the_realm_role_is_no_platform_admin_and_is_refreshed_at_login(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    app.sign_in_oidc("member", "member-pass").await;
    assert_eq!(app.me().await["is_platform_admin"], false);

    sqlx::query(
        "update users set name = 'Old Name', email = 'old@example.org', is_platform_admin = true",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.sign_in_oidc("member", "member-pass").await;
    let me = app.me().await;
    assert_eq!(
        (me["name"].as_str(), me["email"].as_str()),
        (Some("Mia Member"), Some("member@example.org"))
    );
    assert_eq!(me["is_platform_admin"], false);
    let users: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_session_id_changes_at_login(pool: PgPool) {
    let app = spawn_app(pool).await;
    let auth_url = app.begin_login("/").await;
    let before = app
        .session_cookie()
        .expect("a session holds the pending login");
    let callback = app.provider_login(auth_url, "member", "member-pass").await;
    app.client.get(callback).send().await.unwrap();
    let after = app.session_cookie().unwrap();
    assert_ne!(before, after);
    assert_eq!(app.me().await["name"], "Mia Member");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_wrong_state_is_rejected(pool: PgPool) {
    let app = spawn_app(pool).await;
    let auth_url = app.begin_login("/").await;
    let callback = app.provider_login(auth_url, "member", "member-pass").await;
    let forged = with_query(&callback, "state", "forged-state");
    let response = app.client.get(forged).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("could not verify"));
    assert!(app.me().await.is_null());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_wrong_nonce_is_rejected(pool: PgPool) {
    let app = spawn_app(pool).await;
    let auth_url = app.begin_login("/").await;
    // Same state and PKCE challenge, but the provider is asked to put another nonce in the ID token.
    let tampered = with_query(&auth_url, "nonce", "attacker-nonce");
    let callback = app.provider_login(tampered, "member", "member-pass").await;
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(app.me().await.is_null());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_replayed_code_is_rejected(pool: PgPool) {
    let app = spawn_app(pool).await;
    let auth_url = app.begin_login("/").await;
    let callback = app.provider_login(auth_url, "member", "member-pass").await;
    assert_eq!(
        app.client
            .get(callback.clone())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );

    // The same callback again: its sign-in is used up.
    let again = app.client.get(callback.clone()).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // The old code with a fresh, valid state: the provider refuses the code.
    let fresh = app.begin_login("/").await;
    let replay = with_query(&callback, "state", &query(&fresh, "state"));
    let response = app.client.get(replay).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrations = "../migrations")]
async fn open_redirects_in_next_are_rejected(pool: PgPool) {
    let app = spawn_app(pool).await;
    for next in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
        "evil.example",
        "%2F%0Aevil",
    ] {
        let response = app.get(&format!("/auth/login?next={next}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "next={next}");
        assert!(response.headers().get("location").is_none());
    }
    let ok = app.get("/auth/login?next=%2Fs%2Fclub%3Ftab%3D1").await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test(migrations = "../migrations")]
async fn logout_ends_the_roster_session_and_then_the_keycloak_session(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.sign_in_oidc("member", "member-pass").await;
    let old_cookie = app.session_cookie().unwrap();

    let response = app
        .client
        .post(app.url("/auth/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let logout_url = Url::parse(&location(&response)).unwrap();
    assert!(
        logout_url
            .path()
            .ends_with("/protocol/openid-connect/logout"),
        "{logout_url}"
    );
    assert!(!query(&logout_url, "id_token_hint").is_empty());
    assert_eq!(
        query(&logout_url, "post_logout_redirect_uri"),
        app.url("/").as_str()
    );
    assert!(app.me().await.is_null());

    // The old session cookie is worthless now.
    let stale = reqwest::Client::new()
        .post(app.url("/api/current_user"))
        .header("cookie", format!("roster_session={old_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.text().await.unwrap(), "null");

    // The provider's logout page confirms by itself and returns to Roster.
    let page = app.page(logout_url.clone()).await;
    let action = logout_url
        .join(&attribute_after(&page, "<form", "action"))
        .unwrap();
    let xsrf = attribute_after(&page, "name=\"xsrf\"", "value");
    let done = app
        .client
        .post(action)
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap();
    assert!(done.status().is_redirection());
    assert!(location(&done).starts_with(app.url("/").as_str()));

    // Signing in again needs the password: the Keycloak session is gone too.
    let mut url = app.begin_login("/").await;
    let page = loop {
        let response = app.client.get(url.clone()).send().await.unwrap();
        if !response.status().is_redirection() {
            break response.text().await.unwrap();
        }
        url = url.join(&location(&response)).unwrap();
        assert_ne!(
            url.path(),
            "/auth/callback",
            "signed in again without a password"
        );
    };
    assert!(page.contains("kc-form-login"));
}

#[sqlx::test(migrations = "../migrations")]
async fn session_cookies_are_http_only_lax_and_secure_behind_https(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let response = app.get("/auth/login?next=/").await;
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("roster_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    // Idle expiry: the cookie (and the stored session) lapse after `session_idle_minutes`.
    assert!(
        cookie.contains("Max-Age=3600") || cookie.contains("Expires="),
        "{cookie}"
    );

    let https = spawn_app_with(pool, |c| {
        c.public_url = Url::parse("https://roster.example.org").unwrap()
    })
    .await;
    let response = https.get("/auth/login?next=/").await;
    let cookie = set_cookie(&response);
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_session_ends_at_its_absolute_lifetime_whatever_the_activity(pool: PgPool) {
    // A lifetime already over when the sign-in completes (config is only bounded at start-up).
    let app = spawn_app_with(pool, |c| c.session_max_days = -1).await;
    app.sign_in_oidc("member", "member-pass").await;
    assert!(app.me().await.is_null());
    assert_eq!(app.get("/me").await.status(), StatusCode::UNAUTHORIZED);
}
