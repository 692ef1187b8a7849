//! REST API v1: Bearer access tokens from the Keycloak-shaped realm (valid, missing, expired,
//! wrongly signed, for another client), problem details, every endpoint's authorization
//! (including other societies' ids), the OpenAPI document, and a property-based run of
//! schemathesis against it that must find no server error.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;
use sqlx::PgPool;

use crate::{person, spawn_app, TestApp, API_CLIENT_ID, CLIENT_ID, CLIENT_SECRET};

pub const EXTRA_SECRET: &str = "extra-client-secret";

/// An access token for `username` from the realm, as `client` gets it (authorization code
/// flow with PKCE, like a phone app).
pub async fn access_token(
    app: &TestApp,
    client: &str,
    secret: &str,
    username: &str,
    password: &str,
) -> String {
    token_response(app, client, secret, username, password).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The realm's token response (access and ID token) for `username`, as `client` gets it.
async fn token_response(
    app: &TestApp,
    client: &str,
    secret: &str,
    username: &str,
    password: &str,
) -> Value {
    let issuer = std::env::var("ROSTER_TEST_OIDC_ISSUER").unwrap();
    token_response_at(app, &issuer, client, secret, username, password).await
}

/// `token_response` from the realm at `issuer` (a provider a test started itself).
pub async fn token_response_at(
    app: &TestApp,
    issuer: &str,
    client: &str,
    secret: &str,
    username: &str,
    password: &str,
) -> Value {
    let browser = app.other_browser();
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = app.url("/auth/callback");
    let auth = url::Url::parse_with_params(
        &format!("{issuer}/protocol/openid-connect/auth"),
        &[
            ("client_id", client),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("redirect_uri", redirect.as_str()),
            ("state", "api-test"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let callback = browser.provider_login(auth, username, password).await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("a code")
        .1
        .into_owned();
    let response = browser
        .client
        .post(format!("{issuer}/protocol/openid-connect/token"))
        .basic_auth(client, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "token endpoint: {}",
        response.text().await.unwrap()
    );
    response.json().await.unwrap()
}

pub struct Api<'a> {
    pub app: &'a TestApp,
    pub token: Option<String>,
}

impl Api<'_> {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.app.client.request(method, self.app.url(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                headers["content-type"], "application/problem+json",
                "{path} answered {status} without a problem: {value}"
            );
            assert_eq!(value["status"], status.as_u16(), "{value}");
        }
        (status, value, headers)
    }
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.send(reqwest::Method::GET, path, None).await;
        (s, v)
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.send(reqwest::Method::POST, path, Some(body)).await;
        (s, v)
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.send(reqwest::Method::PUT, path, Some(body)).await;
        (s, v)
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.send(reqwest::Method::DELETE, path, None).await;
        (s, v)
    }
}

pub fn bearer<'a>(app: &'a TestApp, token: &str) -> Api<'a> {
    Api {
        app,
        token: Some(token.to_string()),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn only_valid_realm_tokens_for_roster_or_a_listed_client_are_accepted(pool: PgPool) {
    let app = spawn_app_with_clients(pool).await;
    let anonymous = Api {
        app: &app,
        token: None,
    };
    let (status, problem, headers) = anonymous
        .send(
            reqwest::Method::GET,
            "/api/v1/societies/none/requests",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert!(
        problem["detail"].as_str().unwrap().contains("access token"),
        "{problem}"
    );

    let roster = access_token(&app, CLIENT_ID, CLIENT_SECRET, "admin", "admin-pass").await;
    let mobile = access_token(&app, API_CLIENT_ID, EXTRA_SECRET, "admin", "admin-pass").await;
    let other = access_token(&app, "other-app", EXTRA_SECRET, "admin", "admin-pass").await;
    let id_token = token_response(&app, CLIENT_ID, CLIENT_SECRET, "admin", "admin-pass").await
        ["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let society =
        json!({ "name": "Token Club", "slug": "token-club", "time_zone": "Europe/Berlin" });

    // Roster's own client and a listed one: the platform admin (realm role) creates societies.
    let (status, created) = bearer(&app, &roster)
        .post("/api/v1/societies", society.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["slug"], "token-club");
    assert_eq!(created["join_policy"], "approval");
    let (status, _) = bearer(&app, &mobile)
        .post("/api/v1/societies", json!({ "name": "Mobile Club", "slug": "mobile-club", "time_zone": "UTC", "join_policy": "open" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // One user for both tokens: found by issuer and subject.
    assert_eq!(crate::count(&app.pool, "users").await, 1);

    // Another application's token, a tampered one, an unsigned one, an expired one: 401.
    // A character inside the signature (the last one may carry only padding bits).
    let mut tampered: Vec<char> = roster.chars().collect();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let parts: Vec<&str> = roster.split('.').collect();
    let unsigned = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    // The short-lived client's tokens work while fresh, for two seconds (the mock realm's
    // setting for that client); the wait below is for the clock, not for another task.
    let expiring = access_token(&app, "roster-expiring", EXTRA_SECRET, "admin", "admin-pass").await;
    let (status, _) = bearer(&app, &expiring)
        .get("/api/v1/societies/token-club/requests")
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "fresh, the short-lived client's token works"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    for (what, token) in [
        ("another client's", other.as_str()),
        ("a tampered", tampered.as_str()),
        ("an unsigned", unsigned.as_str()),
        ("an expired", expiring.as_str()),
        ("a malformed", "not-a-jwt"),
        ("an ID (not access) token", id_token.as_str()),
    ] {
        let (status, problem) = bearer(&app, token)
            .get("/api/v1/societies/token-club/requests")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} token: {problem}");
        // The booking endpoints check the token the same way.
        let some = uuid::Uuid::new_v4();
        for (method, path, body) in [
            (reqwest::Method::GET, "/api/v1/bookings".to_string(), None),
            (
                reqwest::Method::POST,
                "/api/v1/bookings".to_string(),
                Some(json!({ "occurrence_id": some })),
            ),
            (
                reqwest::Method::DELETE,
                format!("/api/v1/bookings/{some}"),
                None,
            ),
            (
                reqwest::Method::GET,
                format!("/api/v1/occurrences/{some}/roster"),
                None,
            ),
            (
                reqwest::Method::PUT,
                format!("/api/v1/occurrences/{some}/attendance/{some}"),
                Some(json!({ "state": "present" })),
            ),
        ] {
            let (status, problem, _) = bearer(&app, token).send(method, &path, body).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{what} token on {path}: {problem}"
            );
        }
    }
    let (status, _, _) = Api {
        app: &app,
        token: None,
    }
    .send(
        reqwest::Method::GET,
        "/api/v1/societies/token-club/requests",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A signed-in browser's session works too.
    let browser = app.other_browser();
    browser.sign_in_oidc("admin", "admin-pass").await;
    let response = browser
        .client
        .get(browser.url("/api/v1/societies/token-club/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn spawn_app_with_clients(pool: PgPool) -> TestApp {
    crate::spawn_app_with(pool, |config| {
        if let Some(oidc) = config.oidc.as_mut() {
            oidc.api_clients.push("roster-expiring".into());
        }
    })
    .await
}

#[sqlx::test(migrations = "../migrations")]
async fn every_endpoint_checks_who_asks_and_answers_problems(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin_token = access_token(&app, CLIENT_ID, CLIENT_SECRET, "admin", "admin-pass").await;
    let member_token = access_token(&app, CLIENT_ID, CLIENT_SECRET, "member", "member-pass").await;
    let trainer_token =
        access_token(&app, CLIENT_ID, CLIENT_SECRET, "trainer", "trainer-pass").await;
    let admin = bearer(&app, &admin_token);
    let member = bearer(&app, &member_token);
    let trainer = bearer(&app, &trainer_token);

    let (status, _) = member
        .post(
            "/api/v1/societies",
            json!({ "name": "Mine", "slug": "mine", "time_zone": "UTC" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only platform admins create societies"
    );
    for (slug, name) in [("harbour", "Harbour"), ("river", "River")] {
        let (status, body) = admin
            .post(
                "/api/v1/societies",
                json!({ "name": name, "slug": slug, "time_zone": "Europe/Berlin" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, problem) = admin
        .post(
            "/api/v1/societies",
            json!({ "name": "Again", "slug": "harbour", "time_zone": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("slug"))
    );
    let (status, problem) = admin
        .post(
            "/api/v1/societies",
            json!({ "name": "Zone", "slug": "zone", "time_zone": "Mars/Olympus" }),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("time_zone"))
    );

    // Asking to join, and the admin's decision.
    let (status, body) = member
        .post("/api/v1/societies/harbour/membership", json!({}))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    let (status, _) = member.get("/api/v1/societies/harbour/requests").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, requests) = admin.get("/api/v1/societies/harbour/requests").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(requests[0]["name"], "Mia Member");
    let mia = requests[0]["user_id"].as_str().unwrap().to_string();
    let (status, problem) = admin
        .post(
            &format!("/api/v1/societies/harbour/requests/{mia}"),
            json!({ "decision": "maybe" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = member
        .post(
            &format!("/api/v1/societies/harbour/requests/{mia}"),
            json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = admin
        .post(
            &format!("/api/v1/societies/harbour/requests/{mia}"),
            json!({ "decision": "approve", "reason": "Welcome" }),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("approved"))
    );
    let (status, _) = admin
        .post(
            &format!("/api/v1/societies/river/requests/{mia}"),
            json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such request in river");
    // Tom is an admin of river only.
    trainer
        .post("/api/v1/societies/river/membership", json!({}))
        .await;
    sqlx::query("update memberships set role = 'admin', status = 'approved' where user_id = (select id from users where email = 'trainer@example.org')")
        .execute(&pool)
        .await
        .unwrap();

    // Events: a weekly series across the next DST change is not needed here; times are
    // checked with the society's offset.
    let start = chrono::Utc::now().date_naive() + chrono::Duration::days(3);
    let event = json!({
        "title": "Squad training",
        "capacity": 12,
        "duration_minutes": 90,
        "starts_at": format!("{start}T18:00"),
        "weekly": { "weekdays": ["MO", "WE", "FR"], "count": 6 },
    });
    let (status, _) = member
        .post("/api/v1/societies/harbour/events", event.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = trainer
        .post("/api/v1/societies/harbour/events", event.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "river's admin in harbour");
    let (status, created) = admin
        .post("/api/v1/societies/harbour/events", event.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let ids: Vec<String> = created["occurrence_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 6);
    for (field, broken) in [
        ("capacity", json!({ "capacity": 0 })),
        ("starts_at", json!({ "starts_at": "tomorrow" })),
        (
            "weekly.weekdays",
            json!({ "weekly": { "weekdays": ["XX"], "count": 2 } }),
        ),
        ("weekly", json!({ "weekly": { "weekdays": ["MO"] } })),
        ("trainer_ids", json!({ "trainer_ids": [mia] })),
        ("category", json!({ "category": uuid::Uuid::new_v4() })),
    ] {
        let mut body = event.clone();
        for (k, v) in broken.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, problem) = admin.post("/api/v1/societies/harbour/events", body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        assert_eq!(problem["field"], field, "{problem}");
    }
    let mut unknown = event.clone();
    unknown["colour"] = json!("red");
    let (status, _) = admin
        .post("/api/v1/societies/harbour/events", unknown)
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
    let raw = app
        .client
        .post(app.url("/api/v1/societies/harbour/events"))
        .bearer_auth(&admin_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert_eq!(raw.headers()["content-type"], "application/problem+json");

    // Listing: members read, with RFC 3339 times in the society's offset.
    let to = start + chrono::Duration::days(20);
    let range = format!("/api/v1/societies/harbour/occurrences?from={start}&to={to}");
    let (status, list) = member.get(&range).await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 6);
    for o in &list {
        let at = chrono::DateTime::parse_from_rfc3339(o["starts_at"].as_str().unwrap()).unwrap();
        assert_eq!(at.format("%H:%M").to_string(), "18:00", "{o}");
        assert!(matches!(at.offset().local_minus_utc(), 3600 | 7200), "{o}");
        assert_eq!(o["status"], "scheduled");
        assert_eq!(o["capacity"], 12);
    }
    let (status, _) = trainer.get(&range).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not a member of harbour");
    let (status, problem) = member
        .get("/api/v1/societies/harbour/occurrences?from=2027-01-01")
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("to"))
    );
    let (status, _) = member
        .get("/api/v1/societies/harbour/occurrences?from=2027-01-01&to=2029-01-01")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Far-off dates are refused by field, not overflowed.
    let (status, problem) = member
        .get("/api/v1/societies/harbour/occurrences?from=262143-12-30&to=262143-12-31")
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("from"))
    );
    let mut far = event.clone();
    far["starts_at"] = json!("262143-12-31T23:00");
    let (status, problem) = admin.post("/api/v1/societies/harbour/events", far).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("starts_at"))
    );
    let (status, _) = member
        .get("/api/v1/societies/nowhere/occurrences?from=2027-01-01&to=2027-01-02")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Cancelling: river's admin finds nothing, the member may not, harbour's admin does.
    let first = &ids[0];
    let cancel = format!("/api/v1/occurrences/{first}/cancel");
    let (status, _) = trainer.post(&cancel, json!({ "reason": "Mine now" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another society's id");
    let (status, _) = member.post(&cancel, json!({ "reason": "No" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = admin.post(&cancel, json!({ "reason": " " })).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let (status, _) = admin.post(&cancel, json!({ "reason": "Flooded" })).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin.post(&cancel, json!({ "reason": "Again" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin
        .post(
            "/api/v1/occurrences/not-an-id/cancel",
            json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = member.get(&range).await;
    assert_eq!(list[0]["status"], "cancelled");
    let (status, _) = admin.get("/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_openapi_document_describes_every_endpoint_and_schemathesis_finds_no_server_error(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    for path in [
        "/api/v1/societies",
        "/api/v1/societies/{slug}/membership",
        "/api/v1/societies/{slug}/requests",
        "/api/v1/societies/{slug}/requests/{user_id}",
        "/api/v1/societies/{slug}/events",
        "/api/v1/societies/{slug}/occurrences",
        "/api/v1/occurrences/{id}/cancel",
        "/api/v1/bookings",
        "/api/v1/bookings/{id}",
        "/api/v1/occurrences/{id}/roster",
        "/api/v1/occurrences/{id}/attendance/{user_id}",
    ] {
        assert!(
            paths.iter().any(|p| *p == path),
            "{path} missing from {paths:?}"
        );
    }
    // The docs page is served by Roster itself: no script from elsewhere.
    let docs = app.get("/api/v1/docs/").await;
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the docs page loads nothing from the internet"
    );

    // Some data, and a token, so the run reaches the domain behind the checks.
    let token = access_token(&app, CLIENT_ID, CLIENT_SECRET, "admin", "admin-pass").await;
    let admin = bearer(&app, &token);
    admin
        .post(
            "/api/v1/societies",
            json!({ "name": "Harbour", "slug": "harbour", "time_zone": "Europe/Berlin" }),
        )
        .await;
    let (_member, _, _) = person(&app, "member").await;
    let schema = app.url("/api/v1/openapi.json").to_string();
    let base = app.base.as_str().trim_end_matches('/').to_string();
    // In a thread of its own: the app under test answers on this runtime meanwhile.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-m", "schemathesis.cli", "run", &schema])
            .args([
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--seed",
                "1",
            ])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--url", &base])
            .current_dir(std::env::temp_dir())
            .output()
    })
    .await
    .unwrap()
    .expect("schemathesis runs (installed by .ci/lib.sh)");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{text}"
    );
    println!("{text}");
}
