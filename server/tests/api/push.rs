//! Web push against a local push service that checks the VAPID signature and decrypts the
//! payload (RFC 8291/8292), like a browser vendor's service would; a subscription the service
//! says is gone (410) is removed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use sqlx::PgPool;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256PublicKey};
use web_push_native::jwt_simple::prelude::{NoCustomClaims, VerificationOptions};
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;
use web_push_native::p256::SecretKey;
use web_push_native::Auth;

use crate::{joined, new_society, spawn_app, spawn_app_with};

/// One push request as the service received it.
type Push = (HeaderMap, Vec<u8>);

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Push>>>);

async fn accept(
    State(r): State<Received>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    r.0.lock().unwrap().push((headers, body.to_vec()));
    StatusCode::CREATED
}

async fn gone(Path(_id): Path<String>) -> StatusCode {
    StatusCode::GONE
}

/// A browser's side of a subscription: its key pair and auth secret.
struct Browser {
    secret: SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Self {
        let mut auth = [0u8; 16];
        auth.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self {
            secret: SecretKey::random(&mut web_push_native::p256::elliptic_curve::rand_core::OsRng),
            auth,
        }
    }
    fn p256dh(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes())
    }
    fn auth(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.auth)
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn push_arrives_signed_and_encrypted_and_a_gone_subscription_is_removed(pool: PgPool) {
    let received = Received::default();
    let service = Router::new()
        .route("/push/ok/{id}", post(accept))
        .route("/push/gone/{id}", post(gone))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let push_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });

    // The local push service is plain http on a loopback address (only tests allow that).
    let app = spawn_app_with(pool.clone(), |c| c.push_loopback = true).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (max, _, max_id) = joined(&app, "harbour", "max", "member", "approved").await;

    let phone = Browser::new();
    let old_laptop = Browser::new();
    for (browser, endpoint) in [
        (&phone, format!("{push_base}/push/ok/phone")),
        (&old_laptop, format!("{push_base}/push/gone/laptop")),
    ] {
        let r = max
            .call(
                "subscribe_push",
                &[
                    ("endpoint", &endpoint),
                    ("p256dh", &browser.p256dh()),
                    ("auth", &browser.auth()),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }
    // Bad subscriptions are refused with a reason, and nothing is stored.
    for (field, form) in [
        (
            "endpoint",
            [
                ("endpoint", "ftp://push.example/x"),
                ("p256dh", &phone.p256dh()[..]),
                ("auth", &phone.auth()[..]),
            ],
        ),
        (
            "p256dh",
            [
                ("endpoint", "https://push.example/x"),
                ("p256dh", "AAAA"),
                ("auth", &phone.auth()[..]),
            ],
        ),
        (
            "auth",
            [
                ("endpoint", "https://push.example/x"),
                ("p256dh", &phone.p256dh()[..]),
                ("auth", "AAAA"),
            ],
        ),
    ] {
        let r = max.call("subscribe_push", &form).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
    }
    assert_eq!(crate::count(&pool, "push_subscriptions").await, 2);
    let anonymous = app.other_browser();
    let r = anonymous
        .call(
            "subscribe_push",
            &[
                ("endpoint", "https://push.example/y"),
                ("p256dh", &phone.p256dh()),
                ("auth", &phone.auth()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let setup: serde_json::Value = max.call("push_setup", &[]).await.json().await.unwrap();
    assert_eq!(setup["devices"], 2);
    let server_key = setup["public_key"].as_str().unwrap().to_string();

    // Max moves up from a waitlist (the domain's outbox row, as a cancellation writes it).
    let society = crate::notifications::society_id(&pool, "harbour").await;
    let mut conn = pool.acquire().await.unwrap();
    app::notifications::db::enqueue(
        &mut conn,
        app::ids::SocietyId(society),
        app::ids::UserId(max_id.parse().unwrap()),
        app::notifications::NotificationKind::BookingPromoted,
        serde_json::json!({ "title": "Squad", "starts_at": "2026-12-08T17:00:00Z", "occurrence_id": "00000000-0000-0000-0000-000000000001" }),
    )
    .await
    .unwrap();
    drop(conn);

    let started = std::time::Instant::now();
    while received.0.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no push arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (headers, body) = received.0.lock().unwrap()[0].clone();
    assert_eq!(headers["content-encoding"], "aes128gcm");
    assert!(headers.contains_key("ttl"));
    // VAPID: signed with the key the browser subscribed with, for this push service.
    let authorization = headers["authorization"].to_str().unwrap();
    let (token, key) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .expect("a VAPID authorization");
    assert_eq!(key, server_key);
    let verifier = ES256PublicKey::from_bytes(&URL_SAFE_NO_PAD.decode(key).unwrap()).unwrap();
    let claims = verifier
        .verify_token::<NoCustomClaims>(
            token,
            Some(VerificationOptions {
                allowed_audiences: Some(["http://127.0.0.1".to_string()].into()),
                ..Default::default()
            }),
        )
        .expect("a valid VAPID token");
    assert!(claims.subject.unwrap().starts_with("http://127.0.0.1"));
    // RFC 8291: only the browser's keys open it.
    let plain = web_push_native::decrypt(body, &phone.secret, &Auth::clone_from_slice(&phone.auth))
        .expect("decrypts with the phone's keys");
    let message: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(
        message["title"],
        "You have a spot: Squad, Tue 8 Dec 2026, 18:00 CET"
    );
    assert_eq!(
        message["url"],
        "/s/harbour/sessions/00000000-0000-0000-0000-000000000001"
    );

    // The gone subscription is removed; the delivery is sent.
    let started = std::time::Instant::now();
    loop {
        let status: Option<String> = sqlx::query_scalar(
            "select status::text from notification_deliveries where channel = 'push'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        if status.as_deref() == Some("sent") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left: Vec<String> = sqlx::query_scalar("select endpoint from push_subscriptions")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, [format!("{push_base}/push/ok/phone")]);
    assert_eq!(received.0.lock().unwrap().len(), 1, "once");
}

/// A name other than `localhost` that this machine resolves to a loopback address only.
fn loopback_alias() -> String {
    use std::net::ToSocketAddrs;
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .filter(|l| l.starts_with("127."))
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .find(|name| {
            name != "localhost"
                && (name.as_str(), 0)
                    .to_socket_addrs()
                    .is_ok_and(|mut a| a.all(|a| a.ip().is_loopback()))
        })
        .expect("a name for this machine in /etc/hosts that resolves to 127.0.0.1")
}

async fn subscribe(who: &crate::TestApp, endpoint: &str, browser: &Browser) -> reqwest::Response {
    who.call(
        "subscribe_push",
        &[
            ("endpoint", endpoint),
            ("p256dh", &browser.p256dh()),
            ("auth", &browser.auth()),
        ],
    )
    .await
}

#[sqlx::test(migrations = "../migrations")]
async fn push_endpoints_cannot_reach_inside_the_network(pool: PgPool) {
    // Production settings: push goes to public https addresses only.
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (max, _, _) = joined(&app, "harbour", "max", "member", "approved").await;
    let phone = Browser::new();
    for endpoint in [
        "http://127.0.0.1:9/push",
        "http://localhost:9/push",
        "https://localhost/push",
        "https://127.0.0.1/push",
        "https://10.0.0.5:8080/push",
        "https://localhost:@10.0.0.5:8080/push",
        "https://user:secret@push.example.org/push",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.1/push",
        "https://100.64.0.1/push",
        "https://[::1]/push",
        "https://[fd00::1]/push",
        "https://[fe80::1]/push",
        "https://[::ffff:127.0.0.1]/push",
        "https://[::ffff:10.0.0.1]/push",
        "https://224.0.0.1/push",
        "https://0.0.0.0/push",
    ] {
        let r = subscribe(&max, endpoint, &phone).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{endpoint}");
    }
    assert_eq!(crate::count(&pool, "push_subscriptions").await, 0);
    // A public https endpoint is taken.
    let r = subscribe(&max, "https://push.example.org/send/max-phone", &phone).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_name_that_resolves_inside_is_refused_when_connecting_and_errors_name_no_address(
    pool: PgPool,
) {
    // Something inside listening on loopback that must never be reached.
    let inside = Received::default();
    let service = Router::new()
        .route("/{*path}", post(accept))
        .with_state(inside.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });

    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (max, _, max_id) = joined(&app, "harbour", "max", "member", "approved").await;
    // A name, not an address: it passes the check when subscribing (as a rebinding name
    // would), and resolves to loopback only when Roster connects. (The machine's own name
    // in /etc/hosts does.)
    let name = loopback_alias();
    let endpoint = format!("https://{name}:{port}/push/secret-path");
    let r = subscribe(&max, &endpoint, &Browser::new()).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    let society = crate::notifications::society_id(&pool, "harbour").await;
    let mut conn = pool.acquire().await.unwrap();
    app::notifications::db::enqueue(
        &mut conn,
        app::ids::SocietyId(society),
        app::ids::UserId(max_id.parse().unwrap()),
        app::notifications::NotificationKind::BookingPromoted,
        serde_json::json!({ "title": "Squad", "starts_at": "2026-12-08T17:00:00Z" }),
    )
    .await
    .unwrap();
    drop(conn);
    let started = std::time::Instant::now();
    let error = loop {
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "select status::text, last_error from notification_deliveries where channel = 'push'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some((status, Some(error))) = row {
            assert_ne!(status, "sent");
            break error;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        inside.0.lock().unwrap().is_empty(),
        "the inside was reached"
    );
    // The deliveries page shows the error: it must not carry the address.
    for secret in [name.as_str(), "secret-path", &port.to_string()] {
        assert!(!error.contains(secret), "{secret} in {error}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn nobody_takes_over_another_persons_endpoint_and_each_person_keeps_ten(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (max, _, max_id) = joined(&app, "harbour", "max", "member", "approved").await;
    let (eve, _, eve_id) = joined(&app, "harbour", "eve", "member", "approved").await;
    let phone = Browser::new();
    let endpoint = "https://push.example.org/send/max-phone";
    assert_eq!(
        subscribe(&max, endpoint, &phone).await.status(),
        StatusCode::OK
    );
    // Eve knows the address but not the browser's keys: refused, Max keeps it.
    let r = subscribe(&eve, endpoint, &Browser::new()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let owner: String =
        sqlx::query_scalar("select user_id::text from push_subscriptions where endpoint = $1")
            .bind(endpoint)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(owner, max_id);
    // The same browser (same keys), signed in as Eve on a shared phone, moves it over.
    assert_eq!(
        subscribe(&eve, endpoint, &phone).await.status(),
        StatusCode::OK
    );
    let owner: String =
        sqlx::query_scalar("select user_id::text from push_subscriptions where endpoint = $1")
            .bind(endpoint)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(owner, eve_id);
    // Twelve devices: the ten newest are kept.
    for n in 0..12 {
        let endpoint = format!("https://push.example.org/send/max-{n}");
        assert_eq!(
            subscribe(&max, &endpoint, &Browser::new()).await.status(),
            StatusCode::OK
        );
    }
    let kept: Vec<String> = sqlx::query_scalar(
        "select endpoint from push_subscriptions where user_id = $1::uuid order by endpoint",
    )
    .bind(&max_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kept.len(), 10);
    assert!(!kept
        .iter()
        .any(|e| e.ends_with("max-0") || e.ends_with("max-1")));
}

/// A push service that answers 403 (it refuses), redirects inside, or never answers.
async fn refuse() -> StatusCode {
    StatusCode::FORBIDDEN
}

#[sqlx::test(migrations = "../migrations")]
async fn silent_refusing_and_redirecting_push_services_do_not_count_as_sent(pool: PgPool) {
    let inside = Received::default();
    let inside_service = Router::new()
        .route("/{*path}", post(accept))
        .with_state(inside.clone());
    let inside_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inside_addr = inside_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(inside_listener, inside_service).await.unwrap() });
    let received = Received::default();
    let redirect_to = format!("http://{inside_addr}/admin");
    let service = Router::new()
        .route("/push/ok/{id}", post(accept))
        .route("/push/refuse/{id}", post(refuse))
        .route(
            "/push/redirect/{id}",
            post(move || {
                let to = redirect_to.clone();
                async move { axum::response::Redirect::temporary(&to) }
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    // Push services that accept a connection and never answer.
    let mut silent = Vec::new();
    for _ in 0..5 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        silent.push(format!("http://{}/push/silent", l.local_addr().unwrap()));
        std::mem::forget(l);
    }

    let app = spawn_app_with(pool.clone(), |c| c.push_loopback = true).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (max, _, max_id) = joined(&app, "harbour", "max", "member", "approved").await;
    let (jo, _, jo_id) = joined(&app, "harbour", "jo", "member", "approved").await;
    // Jo's only device refuses (403) and her other one redirects inside.
    for endpoint in [
        format!("{base}/push/refuse/jo"),
        format!("{base}/push/redirect/jo"),
    ] {
        assert_eq!(
            subscribe(&jo, &endpoint, &Browser::new()).await.status(),
            StatusCode::OK
        );
    }
    // Max has five silent devices and one that works.
    for endpoint in silent
        .iter()
        .cloned()
        .chain([format!("{base}/push/ok/max")])
    {
        assert_eq!(
            subscribe(&max, &endpoint, &Browser::new()).await.status(),
            StatusCode::OK
        );
    }
    let message = app::notifications::push::PushMessage {
        title: "Hello".into(),
        body: "A test".into(),
        url: "/".into(),
        tag: "t".into(),
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let key = app::notifications::push::vapid_key(&pool, None)
        .await
        .unwrap();
    let send = |user: &str| {
        let user = app::ids::UserId(user.parse().unwrap());
        let (pool, http, key, message) = (pool.clone(), http.clone(), key.clone(), message.clone());
        async move {
            let sender = app::notifications::push::Sender {
                http: &http,
                vapid_private: &key,
                contact: "mailto:roster@test.example",
                loopback: true,
            };
            app::notifications::push::send(&pool, &sender, user, &message, &[]).await
        }
    };
    // Jo: nothing reached, one refused and one redirected: failed for good, not sent.
    match send(&jo_id).await {
        Err((reached, e)) => {
            assert!(reached.is_empty());
            assert!(e.permanent, "{}", e.message);
        }
        Ok(reached) => panic!("a refused push is not sent: {reached:?}"),
    }
    assert!(
        inside.0.lock().unwrap().is_empty(),
        "the redirect was followed"
    );
    // Max: the working device is reached at once; the silent ones all together take one
    // timeout, not five, and make the delivery retry for them.
    let started = std::time::Instant::now();
    let outcome = send(&max_id).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "sent one after another: {took:?}"
    );
    match outcome {
        Err((reached, e)) => {
            assert_eq!(reached.len(), 1);
            assert!(!e.permanent);
        }
        Ok(r) => panic!("the silent ones must be retried: {r:?}"),
    }
    assert_eq!(received.0.lock().unwrap().len(), 1);
}
