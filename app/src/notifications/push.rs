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
/// Subscriptions kept per person (their newest).
pub const MAX_SUBSCRIPTIONS: i64 = 10;
/// One push delivery sends to all of a person's subscriptions at once and gives up on those
/// not answered within this long (a silent push service holds no worker for long).
pub const SEND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

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
    /// Refuses an endpoint that is not a public https address (`loopback` also lets
    /// `http://127.0.0.1`-style endpoints through, for tests with a local push service), keys
    /// that are not a P-256 point and a 16-byte secret.
    pub fn validated(self, loopback: bool) -> AppResult<Self> {
        let endpoint = self.endpoint.trim().to_string();
        if endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(AppError::invalid(
                "endpoint",
                "This push endpoint is too long.",
            ));
        }
        if let Some(why) = endpoint_refusal(&endpoint, loopback) {
            return Err(AppError::invalid("endpoint", why));
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

/// Stores `subscription` for `user`. A browser that subscribes again keeps its endpoint; the
/// same browser subscribing for another person on a shared device moves it over (it proves it
/// is that browser by the same keys, whose secret half only that browser and Roster know).
/// Nobody else can take an endpoint: one that is someone else's with other keys is refused.
/// A person keeps their `MAX_SUBSCRIPTIONS` newest subscriptions.
pub async fn subscribe(
    conn: &mut PgConnection,
    user: UserId,
    subscription: NewSubscription,
    loopback: bool,
) -> AppResult<()> {
    let s = subscription.validated(loopback)?;
    let stored = sqlx::query_scalar!(
        r#"insert into push_subscriptions (user_id, endpoint, p256dh, auth, user_agent)
           values ($1, $2, $3, $4, $5)
           on conflict (endpoint) do update
              set user_id = excluded.user_id, user_agent = excluded.user_agent, created_at = now()
            where push_subscriptions.user_id = excluded.user_id
               or (push_subscriptions.p256dh = excluded.p256dh and push_subscriptions.auth = excluded.auth)
        returning id"#,
        user as UserId,
        s.endpoint,
        s.p256dh,
        s.auth,
        s.user_agent,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if stored.is_none() {
        return Err(AppError::Conflict(
            "This push endpoint belongs to another subscription.".into(),
        ));
    }
    sqlx::query!(
        "delete from push_subscriptions where user_id = $1 and id not in (
             select id from push_subscriptions where user_id = $1
              order by created_at desc, id limit $2)",
        user as UserId,
        MAX_SUBSCRIPTIONS,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Why `endpoint` may not receive pushes, if it may not: not https (or, with `loopback`, http
/// on a loopback address), credentials in the address, or a host that is an address in a
/// private, loopback, link-local, unique-local or multicast range, or `localhost`. (Names that
/// resolve to such addresses are refused when connecting: see `client`.)
pub fn endpoint_refusal(endpoint: &str, loopback: bool) -> Option<&'static str> {
    let Ok(url) = url::Url::parse(endpoint) else {
        return Some("This push endpoint is not an https address.");
    };
    let host_ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Some("This push endpoint is not an https address."),
    };
    let is_loopback = host_ip.is_some_and(|ip| ip.is_loopback())
        || url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case("localhost"));
    let scheme_ok = url.scheme() == "https" || (loopback && is_loopback && url.scheme() == "http");
    if !scheme_ok {
        return Some("This push endpoint is not an https address.");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("A push endpoint carries no user name or password.");
    }
    if is_loopback && !loopback {
        return Some("This push endpoint is not a public address.");
    }
    if let Some(ip) = host_ip {
        if !(is_public(ip) || (loopback && ip.is_loopback())) {
            return Some("This push endpoint is not a public address.");
        }
    }
    None
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918),
/// shared (CGNAT), link-local, unique-local, multicast, documentation, benchmarking, reserved
/// or unspecified; an IPv4 address inside IPv6 (mapped, NAT64) is judged as IPv4.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 = std::net::Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                );
                return is_public(IpAddr::V4(v4));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[..6] == [0, 0, 0, 0, 0, 0])
        }
    }
}

/// Resolves push services' names, keeping only public addresses (or only loopback ones, for
/// tests): checked at connect time, so a name that resolves elsewhere later (DNS rebinding)
/// still cannot reach the inside.
struct PublicOnly {
    loopback: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let loopback = self.loopback;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<std::net::SocketAddr> = found
                .filter(|a| is_public(a.ip()) || (loopback && a.ip().is_loopback()))
                .collect();
            if allowed.is_empty() {
                return Err("the push service's name resolves to no public address".into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client push is sent with: public addresses only (`loopback`: loopback only, for
/// tests), no redirects followed, short timeouts.
pub fn client(loopback: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("Roster/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(PublicOnly { loopback }))
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(SEND_DEADLINE)
        .build()
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

/// What sending push takes: the HTTP client (see `client`), the VAPID private key and
/// contact, and whether loopback endpoints are allowed (tests).
#[derive(Clone, Copy)]
pub struct Sender<'a> {
    pub http: &'a reqwest::Client,
    pub vapid_private: &'a str,
    pub contact: &'a str,
    pub loopback: bool,
}

/// How one subscription's push went.
enum Sent {
    Reached,
    /// The push service no longer knows it (404, 410), or it is unusable: removed.
    Gone,
    /// Try again later (unreachable, 429, 5xx, too slow).
    Retry(String),
    /// The push service refused it (another 4xx, or a redirect): not delivered.
    Refused(String),
}

/// Sends `message` to each of `user`'s subscriptions not in `already` (reached by an earlier
/// attempt), all at once, each within `SEND_DEADLINE`; returns the ones reached now. A
/// subscription the push service no longer knows (404, 410), or one whose endpoint is not
/// allowed, is removed. Fails (for a retry) when a push service could not be reached or
/// answered 429/5xx; when every one refused and none was reached, fails for good (a refused
/// push is not sent). The ones reached are in the error's list too. Error texts never carry
/// an endpoint's address.
pub async fn send(
    pool: &PgPool,
    sender: &Sender<'_>,
    user: UserId,
    message: &PushMessage,
    already: &[Uuid],
) -> Result<Vec<Uuid>, (Vec<Uuid>, SendError)> {
    let Sender {
        http,
        vapid_private,
        contact,
        loopback,
    } = *sender;
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
    let one = |sub_id: Uuid, endpoint: String, p256dh: String, auth: String| {
        let body = body.clone();
        let pair = &pair;
        async move {
            if endpoint_refusal(&endpoint, loopback).is_some() {
                return (sub_id, Sent::Gone);
            }
            let built = (|| {
                let uri: http::Uri = endpoint.parse().map_err(|_| "bad endpoint")?;
                let key = URL_SAFE_NO_PAD.decode(&p256dh).map_err(|_| "bad key")?;
                let key = p256::PublicKey::from_sec1_bytes(&key).map_err(|_| "bad key")?;
                let auth = URL_SAFE_NO_PAD.decode(&auth).map_err(|_| "bad auth")?;
                if auth.len() != 16 {
                    return Err("bad auth");
                }
                WebPushBuilder::new(uri, key, Auth::clone_from_slice(&auth))
                    .with_valid_duration(std::time::Duration::from_secs(24 * 3600))
                    .with_vapid(pair, contact)
                    .build(body)
                    .map_err(|_| "cannot encrypt")
            })();
            let request = match built {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(subscription = %sub_id, error = e, "unusable push subscription removed");
                    return (sub_id, Sent::Gone);
                }
            };
            let (parts, payload) = request.into_parts();
            let answer = http
                .post(parts.uri.to_string())
                .headers(parts.headers)
                .header("Urgency", "normal")
                .body(payload)
                .send()
                .await;
            let sent = match answer {
                Ok(r) if r.status().is_success() => Sent::Reached,
                Ok(r) if matches!(r.status().as_u16(), 404 | 410) => {
                    tracing::info!(subscription = %sub_id, status = r.status().as_u16(), "expired push subscription removed");
                    Sent::Gone
                }
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    Sent::Retry(format!("push service answered {}", r.status()))
                }
                Ok(r) => {
                    tracing::warn!(subscription = %sub_id, status = r.status().as_u16(), "push refused");
                    Sent::Refused(format!("push service refused it ({})", r.status()))
                }
                // Without the address: it would show on the admins' deliveries page.
                Err(e) => Sent::Retry(format!("push service unreachable: {}", e.without_url())),
            };
            (sub_id, sent)
        }
    };
    let outcomes = futures_util::future::join_all(
        subs.into_iter()
            .map(|s| one(s.id, s.endpoint, s.p256dh, s.auth)),
    )
    .await;
    let mut reached = Vec::new();
    let mut retry: Option<String> = None;
    let mut refused: Option<String> = None;
    for (id, sent) in outcomes {
        match sent {
            Sent::Reached => reached.push(id),
            Sent::Gone => remove(pool, id).await,
            Sent::Retry(why) => retry = Some(why),
            Sent::Refused(why) => refused = Some(why),
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
    match (retry, refused) {
        (Some(why), _) => Err((reached, fail(why, false))),
        (None, Some(why)) if reached.is_empty() && already.is_empty() => {
            Err((reached, fail(why, true)))
        }
        _ => Ok(reached),
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

#[cfg(test)]
mod tests {
    use super::{endpoint_refusal, is_public, PublicOnly};
    use reqwest::dns::Resolve;
    use std::str::FromStr;

    #[test]
    fn only_public_addresses_are_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.1.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::10.0.0.1",
        ] {
            assert!(!is_public(inside.parse().unwrap()), "{inside}");
        }
        for outside in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(outside.parse().unwrap()), "{outside}");
        }
    }

    #[test]
    fn endpoints_must_be_public_https_without_credentials() {
        assert_eq!(
            endpoint_refusal("https://fcm.googleapis.com/fcm/send/x", false),
            None
        );
        for bad in [
            "http://push.example.org/x",
            "https://user@push.example.org/x",
            "https://localhost:@10.0.0.5:8080/x",
            "https://LOCALHOST/x",
            "https://[::1]/x",
            "ftp://push.example.org/x",
            "not a url",
        ] {
            assert!(endpoint_refusal(bad, false).is_some(), "{bad}");
        }
        // Tests with a local push service: http on loopback, and only that.
        assert_eq!(endpoint_refusal("http://127.0.0.1:4000/x", true), None);
        assert!(endpoint_refusal("http://10.0.0.1:4000/x", true).is_some());
    }

    #[tokio::test]
    async fn names_resolving_inside_are_refused_when_connecting() {
        let name = reqwest::dns::Name::from_str("localhost").unwrap();
        assert!(PublicOnly { loopback: false }.resolve(name).await.is_err());
        let name = reqwest::dns::Name::from_str("localhost").unwrap();
        let addrs: Vec<_> = PublicOnly { loopback: true }
            .resolve(name)
            .await
            .expect("loopback is allowed in tests")
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
