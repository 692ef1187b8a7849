//! What a review of Roster found abusable, each fixed and held here: security headers and a
//! CSP nonce, messages only Roster wrote, Bearer tokens (asymmetric only, narrow tokens, an
//! identity provider that is down), revocation, email addresses in CSV exports, a slow mail
//! server, rate limits and join loops.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::{engine::general_purpose::URL_SAFE, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::rest::{bearer, token_response_at, EXTRA_SECRET};
use crate::weekly_series;
use crate::{joined, new_society, spawn_app, spawn_app_with, CLIENT_ID, CLIENT_SECRET};

/// The value of `name="…"` of every tag `tag` in `html`.
fn attributes<'a>(html: &'a str, tag: &str, name: &str) -> Vec<Option<&'a str>> {
    html.match_indices(&format!("<{tag}"))
        .map(|(at, _)| {
            let end = html[at..].find('>').map_or(html.len(), |e| at + e);
            let element = &html[at..end];
            let key = format!(" {name}=\"");
            element.find(&key).map(|i| {
                let from = i + key.len();
                &element[from..from + element[from..].find('"').unwrap_or(0)]
            })
        })
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn pages_carry_security_headers_and_their_scripts_the_pages_nonce(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let page = app.get("/sign-in").await;
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy")
        .to_string();
    assert!(nonce.len() >= 20, "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    for directive in [
        "'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(
        headers["referrer-policy"],
        "strict-origin-when-cross-origin"
    );
    assert!(headers.contains_key("permissions-policy"));
    assert!(
        !headers.contains_key("strict-transport-security"),
        "http only"
    );
    let html = page.text().await.unwrap();
    let scripts = attributes(&html, "script", "nonce");
    assert!(!scripts.is_empty(), "the islands' loader is a script");
    for script in scripts {
        assert_eq!(
            script,
            Some(nonce.as_str()),
            "every script carries the nonce"
        );
    }
    // Another page, another nonce.
    let again = app.get("/sign-in").await;
    assert!(!again.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains(&nonce));
    // Served over https: browsers are told to stay there.
    let https = spawn_app_with(pool, |c| {
        c.public_url = "https://roster.example.org".parse().unwrap()
    })
    .await;
    let page = https.get("/sign-in").await;
    assert!(page.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
}

#[sqlx::test(migrations = "../migrations")]
async fn pages_show_only_messages_roster_wrote(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    // A crafted link carrying an "error" is shown nothing of it.
    let forged = URL_SAFE.encode(
        serde_json::to_vec(&json!({ "Conflict": "Your account is locked: call 0900-SCAM" }))
            .unwrap(),
    );
    let html = app
        .get(&format!("/sign-in?__err={forged}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("0900-SCAM"), "{html}");
    // A form posted without JavaScript that fails comes back to its page with the message,
    // carried in a one-time cookie, and an address without it.
    let referer = app.url("/sign-in");
    let posted = app
        .client
        .post(app.url("/api/request_email_link"))
        .header("accept", "text/html")
        .header("referer", referer.as_str())
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", "not an address")])
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_redirection());
    let location = crate::location(&posted);
    assert!(!location.contains("__err"), "{location}");
    let cookie = crate::set_cookie(&posted, "roster_flash");
    assert!(
        cookie.contains("HttpOnly") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let html = app.get(&location).await.text().await.unwrap();
    assert!(html.contains("valid email address"), "{html}");
    // Shown once.
    let html = app.get(&location).await.text().await.unwrap();
    assert!(!html.contains("valid email address"));
    // Under https the message cookie is Secure too.
    let https = spawn_app_with(pool, |c| {
        c.public_url = "https://roster.example.org".parse().unwrap()
    })
    .await;
    let posted = https
        .client
        .post(https.url("/api/request_email_link"))
        .header("accept", "text/html")
        .header("referer", "https://roster.example.org/sign-in")
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", "not an address")])
        .send()
        .await
        .unwrap();
    assert!(crate::set_cookie(&posted, "roster_flash").contains("; Secure"));
}

/// HMAC-SHA-256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner_hash = Sha256::new()
        .chain_update(&inner)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer)
        .chain_update(inner_hash)
        .finalize()
        .to_vec()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_token_signed_with_the_client_secret_is_not_an_access_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let issuer = std::env::var("ROSTER_TEST_OIDC_ISSUER").unwrap();
    let now = chrono::Utc::now().timestamp();
    // Whoever holds the client secret could mint this platform admin, if HS256 were taken.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({
            "iss": issuer, "sub": "kc-forged-9999", "aud": CLIENT_ID, "azp": CLIENT_ID,
            "typ": "Bearer", "iat": now, "exp": now + 300,
            "email": "forged@example.org", "email_verified": true, "name": "Forged Admin",
            "realm_access": { "roles": ["roster-admin"] },
        }))
        .unwrap(),
    );
    let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(
        CLIENT_SECRET.as_bytes(),
        format!("{header}.{claims}").as_bytes(),
    ));
    let forged = format!("{header}.{claims}.{signature}");
    let (status, _) = bearer(&app, &forged)
        .post(
            "/api/v1/societies",
            json!({ "name": "Forged", "slug": "forged", "time_zone": "UTC" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(crate::count(&app.pool, "societies").await, 0);
    assert_eq!(crate::count(&app.pool, "users").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_token_without_profile_or_roles_blanks_nothing_and_demotes_nobody(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), |c| {
        if let Some(oidc) = c.oidc.as_mut() {
            oidc.api_clients.push("roster-narrow".into());
        }
    })
    .await;
    app.sign_in_oidc("narrow", "narrow-pass").await;
    assert_eq!(app.me().await["is_platform_admin"], true);
    let issuer = std::env::var("ROSTER_TEST_OIDC_ISSUER").unwrap();
    let narrow = token_response_at(
        &app,
        &issuer,
        "roster-narrow",
        EXTRA_SECRET,
        "narrow",
        "narrow-pass",
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = bearer(&app, &narrow).get("/api/v1/bookings").await;
    assert_eq!(status, StatusCode::OK);
    let (name, email, admin): (String, String, bool) = sqlx::query_as(
        "select name, email, is_platform_admin from users where subject = 'kc-narrow-0008'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (name.as_str(), email.as_str(), admin),
        ("Nat Narrow", "narrow@example.org", true)
    );
}

/// Changes `username`'s realm roles or account on the test provider at `issuer`, as an admin
/// would in Keycloak.
async fn provider_admin(issuer: &str, username: &str, change: Value) {
    let r = reqwest::Client::new()
        .post(format!("{issuer}/test-admin/users/{username}"))
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[sqlx::test(migrations = "../migrations")]
async fn removing_the_role_or_disabling_the_account_reaches_signed_in_browsers(pool: PgPool) {
    let issuer = std::env::var("ROSTER_TEST_OIDC_ISSUER").unwrap();
    // Checked with the provider at every request here (every few minutes in production).
    let app = spawn_app_with(pool, |c| c.identity_recheck_secs = 0).await;
    app.sign_in_oidc("revocable", "revocable-pass").await;
    assert_eq!(app.me().await["is_platform_admin"], true);
    provider_admin(&issuer, "revocable", json!({ "roles": ["offline_access"] })).await;
    assert_eq!(app.me().await["is_platform_admin"], false, "role removed");
    provider_admin(
        &issuer,
        "revocable",
        json!({ "roles": ["roster-admin", "offline_access"] }),
    )
    .await;
    assert_eq!(app.me().await["is_platform_admin"], true, "role given back");
    provider_admin(&issuer, "revocable", json!({ "enabled": false })).await;
    let me = app.me().await;
    provider_admin(&issuer, "revocable", json!({ "enabled": true })).await;
    assert_eq!(me, Value::Null, "a disabled account is signed out");
    assert_eq!(
        app.get("/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "and stays out"
    );
}

/// An OIDC provider of this test's own, which it can stop and start again.
struct Provider {
    port: u16,
    child: Option<Child>,
}

impl Provider {
    fn start(port: u16) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../end2end/support/oidc-provider.mjs"
        );
        let mut child = Command::new("node")
            .args([script, "--port", &port.to_string(), "--realm", "down-test"])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the provider");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no ready line: {line}"));
        Self {
            port,
            child: Some(child),
        }
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}/realms/down-test", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn with_the_identity_provider_down_people_keep_working_and_sign_in_says_so(pool: PgPool) {
    let mut provider = Provider::start(0);
    let issuer = provider.issuer();
    let app = spawn_app_with(pool, |c| {
        if let Some(oidc) = c.oidc.as_mut() {
            oidc.issuer = issuer.clone();
        }
        c.identity_recheck_secs = 0;
    })
    .await;
    app.sign_in_oidc("admin", "admin-pass").await;
    let token = token_response_at(
        &app,
        &issuer,
        CLIENT_ID,
        CLIENT_SECRET,
        "member",
        "member-pass",
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        bearer(&app, &token).get("/api/v1/bookings").await.0,
        StatusCode::OK
    );

    provider.stop();
    // Signed-in people keep working (the recheck cannot reach the provider: nothing changes).
    let started = Instant::now();
    assert_eq!(app.me().await["name"], "Ada Admin");
    assert_eq!(app.get("/me").await.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    // Bearer tokens keep verifying with the keys fetched before.
    assert_eq!(
        bearer(&app, &token).get("/api/v1/bookings").await.0,
        StatusCode::OK
    );
    // Signing in says plainly that the provider is away: no 500, no dead redirect.
    let visitor = app.other_browser();
    let login = visitor.get("/auth/login?next=/me").await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(login.text().await.unwrap().contains("not reachable"));

    // It comes back (same address): signing in works again.
    let _again = Provider::start(provider.port);
    let login = visitor.get("/auth/login?next=/me").await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    visitor.sign_in_oidc("trainer", "trainer-pass").await;
    assert_eq!(visitor.me().await["name"], "Tom Trainer");
}

#[sqlx::test(migrations = "../migrations")]
async fn trainers_csv_exports_hold_names_and_admins_get_email_addresses(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (admin, _, _) = joined(&app, "harbour", "admin-a", "admin", "approved").await;
    let (trainer, _, trainer_id) = joined(&app, "harbour", "trainer", "trainer", "approved").await;
    let (member, member_email, _) = joined(&app, "harbour", "max", "member", "approved").await;
    let (_, sessions) = weekly_series(&admin, &trainer_id).await;
    let booked = member
        .call("book_session", &[("slug", "harbour"), ("id", &sessions[0])])
        .await;
    assert_eq!(booked.status(), StatusCode::OK);
    let roster = format!("/s/harbour/sessions/{}/roster.csv", sessions[0]);
    let today = chrono::Utc::now().date_naive();
    let range = format!(
        "/s/harbour/attendance.csv?from={}&to={}",
        today,
        today + chrono::Duration::days(60)
    );
    let range = range.as_str();
    for path in [roster.as_str(), range] {
        let as_trainer = trainer.get(path).await.text().await.unwrap();
        assert!(as_trainer.contains("max"), "{as_trainer}");
        assert!(!as_trainer.contains(&member_email), "{path}: {as_trainer}");
        let as_admin = admin.get(path).await.text().await.unwrap();
        assert!(as_admin.contains(&member_email), "{path}: {as_admin}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_mail_server_that_never_answers_does_not_hold_a_sign_in(pool: PgPool) {
    // Accepts connections and says nothing, ever.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", silent.local_addr().unwrap());
    let app = spawn_app_with(pool, |c| {
        c.mail = server::config::MailConfig::Smtp(url.clone().into())
    })
    .await;
    let started = Instant::now();
    let r = app
        .call(
            "request_email_link",
            &[("email", &crate::address("patient"))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered after {:?}",
        started.elapsed()
    );
    drop(silent);
}

async fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn rate_limits_answer_429_with_retry_after(pool: PgPool) {
    let app = spawn_app_with(pool, |c| {
        c.rate_writes_per_person = 1;
        c.rate_api_per_address = 1;
        c.rate_api_per_person = 1;
    })
    .await;
    let (person, _, _) = crate::person(&app, "busy").await;
    // Changes per person: a burst of 30, then 429.
    let mut statuses = Vec::new();
    for _ in 0..31 {
        statuses.push(person.call("mark_notifications_read", &[]).await.status());
    }
    assert!(
        statuses[..30].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let refused = person.call("mark_notifications_read", &[]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&refused).await >= 1);
    // Reading pages is not limited.
    assert_eq!(person.get("/me").await.status(), StatusCode::OK);
    // The REST API per client address: a burst of 10, then problems with Retry-After.
    let api = bearer(&app, "not-a-token");
    let mut last = (
        StatusCode::OK,
        Value::Null,
        reqwest::header::HeaderMap::new(),
    );
    for _ in 0..11 {
        last = api
            .send(reqwest::Method::GET, "/api/v1/bookings", None)
            .await;
    }
    assert_eq!(last.0, StatusCode::TOO_MANY_REQUESTS, "{}", last.1);
    assert!(last.2.contains_key("retry-after"));
    assert_eq!(last.2["content-type"], "application/problem+json");
}

#[sqlx::test(migrations = "../migrations")]
async fn asking_to_join_again_and_again_is_limited(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (person, _, _) = crate::person(&app, "looper").await;
    for _ in 0..app::members::db::JOIN_REQUESTS_PER_DAY {
        let r = person
            .call(
                "request_membership",
                &[("slug", "harbour"), ("message", "hi")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let r = person
            .call("withdraw_request", &[("slug", "harbour")])
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }
    let r = person
        .call(
            "request_membership",
            &[("slug", "harbour"), ("message", "hi")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r).await > 3600, "until a day has passed");
    let pending: i64 =
        sqlx::query_scalar("select count(*) from memberships where status = 'pending'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(pending, 0);
}
