//! Web push: the VAPID key every replica signs with, people's subscriptions, and sending a
//! notification to each of a person's subscriptions (RFC 8030 delivery, RFC 8291 encryption,
//! RFC 8292 VAPID, by `web-push-native`). A push service that answers 404 or 410 has dropped
//! the subscription: it is removed.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::p256;
use web_push_native::{Auth, WebPushBuilder};

use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use crate::mail::SendError;

/// Longest push endpoint we store.
pub const MAX_ENDPOINT_LEN: usize = 2048;

fn key_pair(private_b64: &str) -> Result<ES256KeyPair, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(private_b64.trim())
        .map_err(|_| "not base64url".to_string())?;
    ES256KeyPair::from_bytes(&bytes).map_err(|e| format!("not a P-256 private key: {e}"))
}

/// The VAPID private key: `configured` (checked) or the one stored for every replica, made on
/// first use.
pub async fn vapid_key(pool: &PgPool, configured: Option<&str>) -> Result<String, String> {
    if let Some(key) = configured {
        key_pair(key).map_err(|e| format!("ROSTER_VAPID_PRIVATE_KEY: {e}"))?;
        return Ok(key.trim().to_string());
    }
    let fresh = URL_SAFE_NO_PAD.encode(p256::SecretKey::random(&mut rand_core()).to_bytes());
    sqlx::query!(
        "insert into push_vapid_key (private_key) values ($1) on conflict (singleton) do nothing",
        fresh
    )
    .execute(pool)
    .await
    .map_err(|e| format!("storing the VAPID key failed: {e}"))?;
    let stored = sqlx::query_scalar!("select private_key from push_vapid_key")
        .fetch_one(pool)
        .await
        .map_err(|e| format!("reading the VAPID key failed: {e}"))?;
    key_pair(&stored).map_err(|e| format!("the stored VAPID key: {e}"))?;
    Ok(stored)
}

fn rand_core() -> p256::elliptic_curve::rand_core::OsRng {
    p256::elliptic_curve::rand_core::OsRng
}

/// The public half of the VAPID key, as browsers take it (`applicationServerKey`).
pub fn public_key(private_b64: &str) -> AppResult<String> {
    let pair = key_pair(private_b64).map_err(|e| {
        tracing::error!(error = %e, "VAPID key");
        AppError::Internal
    })?;
    Ok(URL_SAFE_NO_PAD.encode(pair.public_key().public_key().to_bytes_uncompressed()))
}

/// A subscription as a browser's `PushSubscription` gives it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub user_agent: String,
}

impl NewSubscription {
    /// Refuses an endpoint that is not https (or a local http one), keys that are not a P-256
    /// point and a 16-byte secret.
    pub fn validated(self) -> AppResult<Self> {
        let endpoint = self.endpoint.trim().to_string();
        let local = ["http://127.0.0.1:", "http://localhost:"]
            .iter()
            .any(|p| endpoint.starts_with(p));
        let valid_url = url::Url::parse(&endpoint).is_ok_and(|u| u.host().is_some());
        if endpoint.len() > MAX_ENDPOINT_LEN
            || !valid_url
            || !(endpoint.starts_with("https://") || local)
        {
            return Err(AppError::invalid(
                "endpoint",
                "This push endpoint is not an https address.",
            ));
        }
        let p256dh = URL_SAFE_NO_PAD
            .decode(self.p256dh.trim().trim_end_matches('='))
            .ok()
            .filter(|k| p256::PublicKey::from_sec1_bytes(k).is_ok());
        if p256dh.is_none() {
            return Err(AppError::invalid(
                "p256dh",
                "The subscription's key is not a P-256 public key.",
            ));
        }
        let auth = URL_SAFE_NO_PAD
            .decode(self.auth.trim().trim_end_matches('='))
            .ok()
            .filter(|a| a.len() == 16);
        if auth.is_none() {
            return Err(AppError::invalid(
                "auth",
                "The subscription's secret must be 16 bytes.",
            ));
        }
        Ok(Self {
            endpoint,
            p256dh: self.p256dh.trim().trim_end_matches('=').to_string(),
            auth: self.auth.trim().trim_end_matches('=').to_string(),
            user_agent: self.user_agent.chars().take(300).collect(),
        })
    }
}

/// Stores `subscription` for `user` (a browser that subscribes again, or for another person
/// on a shared device, takes the endpoint over).
pub async fn subscribe(
    conn: &mut PgConnection,
    user: UserId,
    subscription: NewSubscription,
) -> AppResult<()> {
    let s = subscription.validated()?;
    sqlx::query!(
        "insert into push_subscriptions (user_id, endpoint, p256dh, auth, user_agent)
         values ($1, $2, $3, $4, $5)
         on conflict (endpoint) do update
            set user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,
                user_agent = excluded.user_agent, created_at = now()",
        user as UserId,
        s.endpoint,
        s.p256dh,
        s.auth,
        s.user_agent,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes `user`'s subscription with `endpoint`; false when they had none.
pub async fn unsubscribe(pool: &PgPool, user: UserId, endpoint: &str) -> AppResult<bool> {
    let done = sqlx::query!(
        "delete from push_subscriptions where user_id = $1 and endpoint = $2",
        user as UserId,
        endpoint
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many push subscriptions `user` has.
pub async fn subscriptions(pool: &PgPool, user: UserId) -> AppResult<i64> {
    let n = sqlx::query_scalar!(
        r#"select count(*) as "n!" from push_subscriptions where user_id = $1"#,
        user as UserId
    )
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// What a push notification shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushMessage {
    pub title: String,
    pub body: String,
    /// Opened when the notification is clicked.
    pub url: String,
    /// Replaces an earlier notification with the same tag on the device.
    pub tag: String,
}

/// Sends `message` to each of `user`'s subscriptions not in `already` (reached by an earlier
/// attempt); returns the ones reached now. A subscription the push service no longer knows
/// (404, 410) is removed. Fails (for a retry) when a push service could not be reached or
/// answered 429/5xx; the ones reached before are in the error's list too.
pub async fn send(
    pool: &PgPool,
    http: &reqwest::Client,
    vapid_private: &str,
    contact: &str,
    user: UserId,
    message: &PushMessage,
    already: &[Uuid],
) -> Result<Vec<Uuid>, (Vec<Uuid>, SendError)> {
    let fail = |message: String, permanent: bool| SendError { permanent, message };
    let pair = key_pair(vapid_private).map_err(|e| (Vec::new(), fail(e, true)))?;
    let subs = sqlx::query!(
        "select id, endpoint, p256dh, auth from push_subscriptions
          where user_id = $1 and not (id = any($2)) order by created_at",
        user as UserId,
        already,
    )
    .fetch_all(pool)
    .await
    .map_err(|e| (Vec::new(), fail(format!("database: {e}"), false)))?;
    let body = serde_json::to_vec(message).unwrap_or_default();
    let mut reached = Vec::new();
    let mut retry: Option<String> = None;
    for sub in subs {
        let built = (|| {
            let endpoint: http::Uri = sub
                .endpoint
                .parse()
                .map_err(|_| "bad endpoint".to_string())?;
            let key = URL_SAFE_NO_PAD
                .decode(&sub.p256dh)
                .map_err(|_| "bad key".to_string())?;
            let key = p256::PublicKey::from_sec1_bytes(&key).map_err(|_| "bad key".to_string())?;
            let auth = URL_SAFE_NO_PAD
                .decode(&sub.auth)
                .map_err(|_| "bad auth".to_string())?;
            if auth.len() != 16 {
                return Err("bad auth".to_string());
            }
            WebPushBuilder::new(endpoint, key, Auth::clone_from_slice(&auth))
                .with_valid_duration(std::time::Duration::from_secs(24 * 3600))
                .with_vapid(&pair, contact)
                .build(body.clone())
                .map_err(|e| e.to_string())
        })();
        let request = match built {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(subscription = %sub.id, error = %e, "unusable push subscription removed");
                remove(pool, sub.id).await;
                continue;
            }
        };
        let (parts, payload) = request.into_parts();
        let sent = http
            .post(parts.uri.to_string())
            .headers(parts.headers)
            .header("Urgency", "normal")
            .body(payload)
            .timeout(std::time::Duration::from_secs(15))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => reached.push(sub.id),
            Ok(r) if matches!(r.status().as_u16(), 404 | 410) => {
                tracing::info!(subscription = %sub.id, status = r.status().as_u16(), "expired push subscription removed");
                remove(pool, sub.id).await;
            }
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                retry = Some(format!("push service answered {}", r.status()));
            }
            Ok(r) => {
                tracing::warn!(subscription = %sub.id, status = r.status().as_u16(), "push refused");
            }
            Err(e) => retry = Some(format!("push service unreachable: {e}")),
        }
    }
    if !reached.is_empty() {
        let _ = sqlx::query!(
            "update push_subscriptions set last_used_at = now() where id = any($1)",
            &reached
        )
        .execute(pool)
        .await;
    }
    match retry {
        Some(why) => Err((reached, fail(why, false))),
        None => Ok(reached),
    }
}

async fn remove(pool: &PgPool, id: Uuid) {
    if let Err(e) = sqlx::query!("delete from push_subscriptions where id = $1", id)
        .execute(pool)
        .await
    {
        tracing::warn!(error = %e, "removing a push subscription failed");
    }
}
