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

use crate::{joined, new_society, spawn_app};

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

    let app = spawn_app(pool.clone()).await;
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
