//! What the HTTP tests share: Roster started on a random port against a test database, a
//! browser-like client with its cookie jar, sign-in helpers, and the captured mail. Each test
//! binary uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::{redirect, Response, StatusCode};
use server::config::{Config, Vars};
use sqlx::PgPool;
use url::Url;

pub const CLIENT_ID: &str = "roster";
pub const CLIENT_SECRET: &str = "roster-test-secret";
/// Another client of the realm (a phone app) whose access tokens the REST API accepts.
pub const API_CLIENT_ID: &str = "roster-mobile";

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `bash .ci/test`"))
}

pub struct TestApp {
    pub base: Url,
    pub pool: PgPool,
    pub jar: Arc<Jar>,
    /// Keeps cookies, never follows redirects (tests look at each hop).
    pub client: reqwest::Client,
    /// The app's job worker, scheduler and dispatcher: they stop when the last browser of
    /// this app is dropped.
    pub background: Option<Arc<server::jobs::Background>>,
    /// The app's lifecycle (to start its shutdown in a test).
    pub lifecycle: Option<server::Lifecycle>,
}

/// Starts Roster on a random port with Keycloak sign-in, email sign-in and SMTP mail.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, |_| {}).await
}

/// Starts Roster with `tweak`ed settings on a pool of its own for the test's database, sized
/// like a small production server (the test's pool has 5 connections, and each server keeps
/// two for its listeners), which gives up waiting after 5 s (a 503, never a long hang).
pub async fn spawn_app_with(pool: PgPool, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let own = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("a pool for the app");
    // Closed with the test's pool, so the test database can be dropped at once afterwards.
    let (test_pool, closing) = (pool.clone(), own.clone());
    tokio::spawn(async move {
        test_pool.close_event().await;
        closing.close().await;
    });
    let mut app = spawn_app_on(own, tweak).await;
    app.pool = pool;
    app
}

/// Starts Roster on exactly `pool` (tests of what happens when its connections run out).
pub async fn spawn_app_on(pool: PgPool, tweak: impl FnOnce(&mut Config)) -> TestApp {
    // ROSTER_TEST_LOG=1 shows the servers' logs (RUST_LOG filters them).
    if std::env::var_os("ROSTER_TEST_LOG").is_some() {
        server::telemetry::init(false);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = env("ROSTER_TEST_OIDC_ISSUER");
    let smtp = env("ROSTER_TEST_SMTP_URL");
    let public = format!("http://{addr}");
    let bind = addr.to_string();
    let mut config = Config::from_vars(&Vars::from_pairs(&[
        ("DATABASE_URL", "postgres://unused/unused"),
        ("ROSTER_PUBLIC_URL", &public),
        ("LEPTOS_SITE_ADDR", &bind),
        ("ROSTER_DB_MAX_CONNECTIONS", "10"),
        ("ROSTER_OIDC_ISSUER", &issuer),
        ("ROSTER_OIDC_CLIENT_ID", CLIENT_ID),
        ("ROSTER_OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("ROSTER_OIDC_API_CLIENTS", API_CLIENT_ID),
        ("ROSTER_EMAIL_LOGIN", "on"),
        ("ROSTER_SMTP_URL", &smtp),
        ("ROSTER_MAIL_FROM", "Roster <roster@test.example>"),
        ("ROSTER_SESSION_IDLE_MINUTES", "60"),
        ("ROSTER_REQUEST_DIGEST_MINUTES", "0"),
        // The limits have tests of their own; the others send many requests from one address.
        ("ROSTER_RATE_API_PER_ADDRESS", "0"),
        ("ROSTER_RATE_API_PER_PERSON", "0"),
        ("ROSTER_RATE_WRITES_PER_PERSON", "0"),
    ]))
    .expect("the test configuration is valid");
    tweak(&mut config);
    let options = leptos::prelude::LeptosOptions::builder()
        .output_name("roster")
        .site_root("target/site")
        .build();
    let built = server::build(&config, pool.clone(), options)
        .await
        .expect("app builds");
    let lifecycle = built.lifecycle.clone();
    let router = built.router;
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let mut app = TestApp::browser(Url::parse(&format!("http://{addr}")).unwrap(), pool);
    app.background = Some(Arc::new(built.background));
    app.lifecycle = Some(lifecycle);
    app
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on a {} response", response.status()))
        .to_str()
        .unwrap()
        .to_string()
}

/// The `Set-Cookie` header of a response that sets the cookie `name`.
pub fn set_cookie(response: &Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {:?}", response.headers()))
        .to_string()
}

/// The `Max-Age` of a `Set-Cookie` value, in seconds.
pub fn max_age(cookie: &str) -> i64 {
    cookie
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Max-Age="))
        .unwrap_or_else(|| panic!("no Max-Age in {cookie}"))
        .parse()
        .unwrap()
}

/// `name="value"` attribute of the first element after `marker` in `html`, unescaped.
pub fn attribute_after(html: &str, marker: &str, name: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page:\n{html}"));
    let rest = &html[start..];
    let key = format!("{name}=\"");
    let from = rest
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} after {marker}"))
        + key.len();
    let value = &rest[from..from + rest[from..].find('"').unwrap()];
    value
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x2F;", "/")
}

impl TestApp {
    fn browser(base: Url, pool: PgPool) -> Self {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        TestApp {
            base,
            pool,
            jar,
            client,
            background: None,
            lifecycle: None,
        }
    }

    /// Another person's browser on the same running app (own cookies).
    pub fn other_browser(&self) -> TestApp {
        let mut browser = TestApp::browser(self.base.clone(), self.pool.clone());
        browser.background = self.background.clone();
        browser.lifecycle = self.lifecycle.clone();
        browser
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    pub fn session_cookie(&self) -> Option<String> {
        let header = self.jar.cookies(&self.base)?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|c| c.strip_prefix("roster_session=").map(str::to_string))
    }

    /// The body of a GET to an absolute URL (a provider page, a link from a mail).
    pub async fn page(&self, url: Url) -> String {
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Calls a server function as the hydrated app does (same-origin fetch, form-encoded).
    pub async fn call(&self, function: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(&format!("/api/{function}")))
            .header("origin", self.base.origin().ascii_serialization())
            .header("sec-fetch-site", "same-origin")
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The signed-in user as the app reports it (`null` for a visitor).
    pub async fn me(&self) -> serde_json::Value {
        let response = self.call("current_user", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Starts `/auth/login`, signs in on the provider's login form, and returns the callback
    /// URL the provider sends the browser back to (not yet visited).
    pub async fn provider_login(&self, login_url: Url, username: &str, password: &str) -> Url {
        let mut url = login_url;
        for _ in 0..10 {
            let response = self.client.get(url.clone()).send().await.unwrap();
            if response.status().is_redirection() {
                let next = url.join(&location(&response)).unwrap();
                if next.path() == "/auth/callback" && next.port() == self.base.port() {
                    return next;
                }
                url = next;
                continue;
            }
            let page = response.text().await.unwrap();
            assert!(
                page.contains("kc-form-login"),
                "expected the login form, got:\n{page}"
            );
            let action = url
                .join(&attribute_after(&page, "id=\"kc-form-login\"", "action"))
                .unwrap();
            let response = self
                .client
                .post(action.clone())
                .form(&[("username", username), ("password", password)])
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_redirection(),
                "login form answered {}",
                response.status()
            );
            url = action.join(&location(&response)).unwrap();
        }
        panic!("the provider did not redirect back to Roster");
    }

    /// The provider URL `/auth/login?next=…` sends the browser to.
    pub async fn begin_login(&self, next: &str) -> Url {
        let response = self.get(&format!("/auth/login?next={next}")).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        Url::parse(&location(&response)).unwrap()
    }

    /// Signs in with an emailed link to `email` (through the real SMTP server); returns the
    /// path Roster sends the browser to afterwards (`next`).
    pub async fn sign_in_email(&self, email: &str, next: &str) -> String {
        let seen = captured_mail_to(email).len();
        let response = self
            .call("request_email_link", &[("email", email), ("next", next)])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap()
        );
        let mail = wait_for_mail(email, seen).await;
        let link = Url::parse(&link_in(&mail)).expect("a sign-in link");
        let param = |name: &str| {
            link.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let token = param("token").expect("a token in the sign-in link");
        let mut form = vec![("token", token)];
        if let Some(next) = param("next") {
            form.push(("next", next));
        }
        let response = self
            .client
            .post(self.url("/auth/email"))
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        location(&response)
    }

    /// The whole Keycloak sign-in; returns where Roster sends the browser afterwards.
    pub async fn sign_in_oidc(&self, username: &str, password: &str) -> String {
        let auth_url = self.begin_login("/me").await;
        let callback = self.provider_login(auth_url, username, password).await;
        let response = self.client.get(callback).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "callback failed: {}",
            response.text().await.unwrap()
        );
        location(&response)
    }
}

/// A unique address, so captured mail from other tests never matches.
pub fn address(who: &str) -> String {
    format!("{who}-{}@example.org", uuid::Uuid::new_v4().simple())
}

pub async fn user_id(pool: &PgPool, email: &str) -> String {
    let id: uuid::Uuid = sqlx::query_scalar("select id from users where email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap();
    id.to_string()
}

pub async fn put_membership(pool: &PgPool, slug: &str, user: &str, role: &str, status: &str) {
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status)
         select id, $2::uuid, $3::membership_role, $4::membership_status from societies where slug = $1",
    )
    .bind(slug)
    .bind(user)
    .bind(role)
    .bind(status)
    .execute(pool)
    .await
    .unwrap();
}

/// A browser signed in by email link as a new user called `who`.
pub async fn person(app: &TestApp, who: &str) -> (TestApp, String, String) {
    let browser = app.other_browser();
    let email = address(who);
    browser.sign_in_email(&email, "/").await;
    let id = user_id(&app.pool, &email).await;
    (browser, email, id)
}

/// A browser signed in by email link as a new user called `who`, without going through the
/// mail: for tests that need more people than one address may ask links for in an hour.
pub async fn quick_person(app: &TestApp, who: &str) -> (TestApp, String, String) {
    let browser = app.other_browser();
    let email = address(who);
    let mut conn = app.pool.acquire().await.unwrap();
    let token = app::auth::db::create_email_token(&mut conn, &email, &format!("test-{who}"))
        .await
        .unwrap()
        .expect("a new link");
    drop(conn);
    let response = browser
        .client
        .post(browser.url("/auth/email"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id = user_id(&app.pool, &email).await;
    (browser, email, id)
}

/// A browser signed in as a new user called `who`, with `role` and `status` in society `slug`.
pub async fn joined(
    app: &TestApp,
    slug: &str,
    who: &str,
    role: &str,
    status: &str,
) -> (TestApp, String, String) {
    let (browser, email, id) = person(app, who).await;
    put_membership(&app.pool, slug, &id, role, status).await;
    (browser, email, id)
}

/// Creates the society `slug` (Europe/Berlin) as `platform_admin`, a signed-in platform admin.
pub async fn new_society(platform_admin: &TestApp, slug: &str) {
    let response = platform_admin
        .call(
            "create_society",
            &[
                ("name", "Harbour Rowing Club"),
                ("slug", slug),
                ("time_zone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The first link in a mail's text.
pub fn link_in(mail: &str) -> String {
    let start = mail.find("http://").expect("a link in the mail");
    mail[start..].split_whitespace().next().unwrap().to_string()
}

/// Mail captured by the local SMTP server, newest last.
pub fn captured_mail_to(recipient: &str) -> Vec<String> {
    captured_mail_in(&PathBuf::from(env("ROSTER_TEST_MAIL_DIR")), recipient)
}

/// Mail to `recipient` captured into `dir` (by any capture server), newest last.
pub fn captured_mail_in(dir: &std::path::Path, recipient: &str) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| {
            let meta: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            meta["rcpt_tos"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_str().unwrap().eq_ignore_ascii_case(recipient))
        })
        .filter_map(|p| std::fs::read_to_string(p.with_extension("eml")).ok())
        .collect()
}

/// The decoded text of a captured message (quoted-printable bodies, as lettre sends them).
pub fn decode_mail(raw: &str) -> String {
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or(raw);
    if !raw.contains("Content-Transfer-Encoding: quoted-printable") {
        return body.to_string();
    }
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits for the next mail to `recipient` (after `seen` earlier ones) and returns it.
pub async fn wait_for_mail(recipient: &str, seen: usize) -> String {
    for _ in 0..100 {
        let mails = captured_mail_to(recipient);
        if mails.len() > seen {
            let raw = &mails[seen];
            let headers = raw.split_once("\r\n\r\n").map(|(h, _)| h).unwrap_or("");
            return format!("{headers}\r\n\r\n{}", decode_mail(raw));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail to {recipient} arrived");
}

/// Fails when `secret` appears in any row of any table (as text, or hex-encoded inside
/// binary columns such as the session data).
pub async fn assert_not_stored(pool: &PgPool, secret: &str) {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "select table_schema::text, table_name::text from information_schema.tables
          where table_schema in ('public', 'tower_sessions') and table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        tables.len() > 5,
        "expected the schema's tables, got {tables:?}"
    );
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    for (schema, table) in tables {
        let found: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {schema}.{table} t
              where strpos(row_to_json(t)::text, $1) > 0 or strpos(row_to_json(t)::text, $2) > 0"
        ))
        .bind(secret)
        .bind(&hex)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(found, 0, "the secret is stored in {schema}.{table}");
    }
}

pub fn future_date(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

/// Sets up a weekly series of four Tuesday-and-Thursday sessions in harbour, taught by
/// `trainer`; returns (event id, occurrence ids).
pub async fn weekly_series(admin: &TestApp, trainer: &str) -> (String, Vec<String>) {
    let start = future_date(7);
    let response = admin
        .call(
            "create_event",
            &[
                ("slug", "harbour"),
                ("title", "Squad training"),
                ("description", "Bring water."),
                ("location", "Boathouse"),
                ("capacity", "12"),
                ("duration_minutes", "90"),
                ("category", ""),
                ("start_date", &start),
                ("start_time", "18:00"),
                ("repeat", "weekly"),
                ("weekdays[]", "TU"),
                ("weekdays[]", "TH"),
                ("interval", "1"),
                ("ends", "count"),
                ("count", "4"),
                ("trainer_ids[]", trainer),
            ],
        )
        .await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<String> = created["occurrence_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4);
    (created["id"].as_str().unwrap().to_string(), ids)
}
