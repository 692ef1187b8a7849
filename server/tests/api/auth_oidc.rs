//! Sign-in with the Keycloak-shaped provider: the full dance and every way it must fail.

use reqwest::StatusCode;
use sqlx::PgPool;
use url::Url;

use crate::{attribute_after, location, max_age, set_cookie, spawn_app, spawn_app_with};

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
    let cookie = set_cookie(&response, "roster_session");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    // A sign-in that is not finished lapses with its flow (15 minutes).
    assert!((895..=900).contains(&max_age(&cookie)), "{cookie}");
    let next = set_cookie(&response, "roster_next");
    assert!(
        next.contains("HttpOnly") && next.contains("Path=/auth") && max_age(&next) == 900,
        "{next}"
    );
    // Signed in, the session lapses after `session_idle_minutes` without a renewal.
    let auth_url = Url::parse(&location(&response)).unwrap();
    let callback = app.provider_login(auth_url, "member", "member-pass").await;
    let response = app.client.get(callback).send().await.unwrap();
    let cookie = set_cookie(&response, "roster_session");
    assert!((3595..=3600).contains(&max_age(&cookie)), "{cookie}");
    assert_eq!(max_age(&set_cookie(&response, "roster_next")), 0);

    let https = spawn_app_with(pool, |c| {
        c.public_url = Url::parse("https://roster.example.org").unwrap()
    })
    .await;
    let response = https.get("/auth/login?next=/").await;
    for name in ["roster_session", "roster_next"] {
        let cookie = set_cookie(&response, name);
        assert!(
            cookie.contains("Secure") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
    }
}

/// The row of the session `app`'s browser holds: (data, expiry) as stored.
async fn stored_session(app: &crate::TestApp) -> (Vec<u8>, chrono::DateTime<chrono::Utc>) {
    let id = app.session_cookie().expect("a session cookie");
    sqlx::query_as("select data, expiry_date from tower_sessions.session where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_signed_in_session_is_written_back_only_every_few_minutes(pool: PgPool) {
    // Idle after one minute: renewed at most every 12 seconds (a fifth of it).
    let app = spawn_app_with(pool, |c| c.session_idle_minutes = 1).await;
    app.sign_in_oidc("member", "member-pass").await;
    let signed_in = stored_session(&app).await;
    let left = signed_in.1 - chrono::Utc::now();
    assert!(
        left <= chrono::Duration::seconds(60) && left > chrono::Duration::seconds(50),
        "the session ends a minute after sign-in unless renewed: {left}"
    );

    // Requests right after sign-in read the session and write nothing back.
    for _ in 0..5 {
        assert_eq!(app.me().await["name"], "Mia Member");
    }
    assert_eq!(stored_session(&app).await, signed_in);

    // Once the renewal interval has passed, the next request pushes the expiry forward...
    tokio::time::sleep(std::time::Duration::from_millis(12_500)).await;
    let response = app.call("current_user", &[]).await;
    let cookie = set_cookie(&response, "roster_session");
    assert!((55..=60).contains(&max_age(&cookie)), "{cookie}");
    let renewed = stored_session(&app).await;
    assert!(
        renewed.1 - signed_in.1 >= chrono::Duration::seconds(12),
        "{} → {}",
        signed_in.1,
        renewed.1
    );
    // ...and the ones after it write nothing again.
    assert_eq!(app.me().await["name"], "Mia Member");
    assert_eq!(stored_session(&app).await, renewed);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_session_ends_at_its_absolute_lifetime_whatever_the_activity(pool: PgPool) {
    // A lifetime already over when the sign-in completes (config is only bounded at start-up).
    let app = spawn_app_with(pool, |c| c.session_max_days = -1).await;
    app.sign_in_oidc("member", "member-pass").await;
    assert!(app.me().await.is_null());
    assert_eq!(app.get("/me").await.status(), StatusCode::UNAUTHORIZED);
}
