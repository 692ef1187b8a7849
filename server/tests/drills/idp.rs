//! The identity provider down: first hung (SIGSTOP: connections open, no answer), then gone
//! (killed: connections refused). Signed-in people keep working, Bearer tokens keep
//! verifying, signing in says plainly that the provider is away (no 500), and everything
//! works again when it returns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::StatusCode;
use sha2::Digest;

use crate::support::*;

/// Each signed-in person is checked with the provider again after this long.
const RECHECK_SECS: &str = "1";

/// How long a signed-in request may take while the provider hangs: Roster asks it with a 5 s
/// timeout, at most once per request.
const SIGNED_IN_LIMIT: Duration = Duration::from_secs(6);

/// Every answer the drill got, by what was asked, for the "no 500" check.
#[derive(Default)]
struct Seen {
    answers: Vec<(String, String, Duration)>,
}

impl Seen {
    fn add(&mut self, what: &str, outcome: &str, took: Duration) {
        self.answers
            .push((what.to_string(), outcome.to_string(), took));
    }

    fn errors(&self) -> Vec<String> {
        self.answers
            .iter()
            .filter(|(_, o, _)| o.parse::<u16>().is_ok_and(|s| s >= 500 && s != 503))
            .map(|(w, o, _)| format!("{w}: {o}"))
            .collect()
    }
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let db = ctx.cluster.create_database("drill_idp").await?;
    let smtp = Smtp::start(ctx, report, "idp-smtp", 0)?;
    let mut provider = Provider::start(ctx, report, "drill", 0)?;
    let issuer = provider.issuer();
    let config = with(
        settings(&smtp),
        &[
            ("ROSTER_OIDC_ISSUER", issuer.as_str()),
            ("ROSTER_OIDC_CLIENT_ID", CLIENT_ID),
            ("ROSTER_OIDC_CLIENT_SECRET", CLIENT_SECRET),
            ("ROSTER_IDENTITY_RECHECK_SECS", RECHECK_SECS),
        ],
    );
    let a = Server::start(ctx, report, "idp-a", &db, &config).await?;
    let b = Server::start(ctx, report, "idp-b", &db, &config).await?;
    let servers = [&a, &b];
    report.figure(
        "set-up",
        format!(
            "idp-a and idp-b with Keycloak sign-in at {issuer} (ROSTER_IDENTITY_RECHECK_SECS={RECHECK_SECS}: \
             every request of a signed-in person asks the provider again)"
        ),
    );
    let mut seen = Seen::default();
    let admin = oidc_sign_in(&a.base, "admin", "admin-pass").await?;
    let token = access_token(&issuer, &a.base, "member", "member-pass").await?;
    for s in servers {
        let who = whoami(&http(), &s.base, &admin).await?;
        report.check(
            who.as_deref() == Some("admin@example.org"),
            format!(
                "before: Ada Admin, signed in on idp-a, is signed in on {}",
                s.name
            ),
        );
        let (status, _) = bearer(&s.base, &token).await;
        report.check(
            status == "200",
            format!("before: a Bearer token works on {}", s.name),
        );
    }

    // --- hung ------------------------------------------------------------------------
    signal_pid(provider.pid, "STOP")?;
    report.note("the provider hangs (SIGSTOP):");
    let hung = down_checks(report, &mut seen, &servers, &admin, &token, "hung").await;
    signal_pid(provider.pid, "CONT")?;
    let back = Instant::now();
    let login_again = wait_until(Duration::from_secs(20), || async {
        login_status(&a.base).await.0 == "303"
    })
    .await;
    report.check(
        login_again.is_some(),
        format!(
            "after SIGCONT signing in starts again ({})",
            login_again
                .map(|d| format!("{} after it woke", secs(d)))
                .unwrap_or_else(|| "NOT within 20 s".into())
        ),
    );
    let signed_in = oidc_sign_in(&b.base, "trainer", "trainer-pass").await;
    report.check(
        signed_in.is_ok(),
        format!(
            "after SIGCONT a full sign-in works ({}){}",
            secs(back.elapsed()),
            signed_in
                .as_ref()
                .err()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
    );
    for s in servers {
        let who = whoami(&http(), &s.base, &admin).await;
        report.check(
            matches!(&who, Ok(Some(e)) if e == "admin@example.org"),
            format!(
                "after SIGCONT Ada Admin is still signed in on {} ({who:?})",
                s.name
            ),
        );
    }

    // --- gone ------------------------------------------------------------------------
    let port = provider.port;
    provider.kill();
    report.note("the provider is gone (killed: connections refused):");
    let gone = down_checks(report, &mut seen, &servers, &admin, &token, "gone").await;
    let restarted = Instant::now();
    let again = Provider::start(ctx, report, "drill", port)?;
    report.note("the provider starts again on the same address (with new signing keys: the test provider keeps none)");
    let mut login_back = Vec::new();
    for s in servers {
        let took = wait_until(Duration::from_secs(30), || async {
            login_status(&s.base).await.0 == "303"
        })
        .await;
        login_back.push(took);
        report.check(
            took.is_some(),
            format!(
                "signing in starts again on {} ({})",
                s.name,
                took.map(|_| format!("{} after the provider started", secs(restarted.elapsed())))
                    .unwrap_or_else(|| "NOT within 30 s".into())
            ),
        );
    }
    let fresh = oidc_sign_in(&a.base, "rower", "rower-pass").await;
    report.check(
        fresh.is_ok(),
        format!(
            "a full sign-in works again ({} after the provider started){}",
            secs(restarted.elapsed()),
            fresh
                .as_ref()
                .err()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
    );
    let new_token = access_token(&again.issuer(), &a.base, "nora", "nora-pass").await?;
    // idp-a fetched the new keys for the sign-in above; idp-b still has the old ones.
    let took = wait_until(Duration::from_secs(10), || async {
        bearer(&a.base, &new_token).await.0 == "200"
    })
    .await;
    report.check(
        took.is_some(),
        format!(
            "a token signed with the provider's new key verifies on idp-a ({})",
            took.map(|_| format!("{} after the provider started", secs(restarted.elapsed())))
                .unwrap_or_else(|| "NOT within 10 s".into())
        ),
    );
    let (status, _) = bearer(&b.base, &new_token).await;
    report.figure(
        "new key on idp-b",
        if status == "200" {
            "verifies at once".to_string()
        } else {
            format!(
                "{status}: refused until idp-b's keys are a minute old (it looks for new keys at most once a minute); not waited for"
            )
        },
    );

    let errors = seen.errors();
    report.check(
        errors.is_empty(),
        format!(
            "no 500 (nor other 5xx but 503) anywhere while the provider was away ({} answers{})",
            seen.answers.len(),
            errors
                .first()
                .map(|e| format!("; first: {e}"))
                .unwrap_or_default()
        ),
    );
    report.figure("signed-in latency, hung", hung);
    report.figure("signed-in latency, gone", gone);
    for s in servers {
        report.note(format!("{} logged:", s.name));
        for (line, n) in log_summary(&s.log) {
            report.note(format!("  ×{n:<3} {line}"));
        }
    }
    drop(again);
    Ok(())
}

/// What must hold while the provider is away; returns the signed-in latencies.
async fn down_checks(
    report: &mut Report,
    seen: &mut Seen,
    servers: &[&Server],
    admin: &str,
    token: &str,
    how: &str,
) -> String {
    let client = http();
    let mut latencies = Vec::new();
    // Past the recheck interval: every request now asks the provider.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (i, s) in servers.iter().enumerate() {
        // The admin's session on one server through a server function, on the other a page.
        let t = Instant::now();
        let (status, ok) = if i == 0 {
            let who = whoami(&client, &s.base, admin).await;
            let status = match &who {
                Ok(_) => "200".to_string(),
                Err(e) => e
                    .strip_prefix("current_user answered ")
                    .map(|rest| rest.chars().take(3).collect())
                    .unwrap_or_else(|| e.clone()),
            };
            let ok = matches!(&who, Ok(Some(e)) if e == "admin@example.org");
            (status, ok)
        } else {
            let page = client
                .get(s.url("/me"))
                .header("cookie", admin)
                .send()
                .await;
            let (status, body) = match page {
                Ok(r) => (
                    r.status().as_u16().to_string(),
                    r.text().await.unwrap_or_default(),
                ),
                Err(e) => (error_kind(&e), String::new()),
            };
            let ok = status == "200" && body.contains("admin@example.org");
            (status, ok)
        };
        let took = t.elapsed();
        latencies.push(took);
        let what = if i == 0 {
            "current_user"
        } else {
            "the page /me"
        };
        seen.add(&format!("{what} on {}", s.name), &status, took);
        report.check(
            ok,
            format!(
                "{how}: the signed-in admin keeps working on {} ({what}: {status} in {:.1} s)",
                s.name,
                took.as_secs_f64()
            ),
        );
        let t = Instant::now();
        let (status, _) = bearer(&s.base, token).await;
        seen.add(&format!("Bearer on {}", s.name), &status, t.elapsed());
        report.check(
            status == "200",
            format!(
                "{how}: a Bearer token keeps verifying on {} ({status} in {:.1} s)",
                s.name,
                t.elapsed().as_secs_f64()
            ),
        );
    }
    let t = Instant::now();
    let (status, body) = login_status(&servers[0].base).await;
    seen.add("GET /auth/login", &status, t.elapsed());
    report.check(
        status == "503" && body.contains("not reachable"),
        format!(
            "{how}: signing in says the provider is not reachable ({status} in {:.1} s{})",
            t.elapsed().as_secs_f64(),
            if body.contains("not reachable") {
                ""
            } else {
                ", without saying so"
            }
        ),
    );
    let t = Instant::now();
    let page = client
        .get(servers[0].url("/sign-in"))
        .send()
        .await
        .map(|r| r.status());
    let status = label(&page);
    seen.add("GET /sign-in", &status, t.elapsed());
    report.check(
        status == "200",
        format!("{how}: the sign-in page answers {status}"),
    );
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    report.check(
        slowest <= SIGNED_IN_LIMIT,
        format!(
            "{how}: a signed-in request waits for the provider at most once (the slowest took {:.1} s; \
             the limit is {} = its 5 s timeout and a second)",
            slowest.as_secs_f64(),
            secs(SIGNED_IN_LIMIT)
        ),
    );
    format!(
        "{} ms ({} requests)",
        latencies
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", "),
        latencies.len()
    )
}

/// `GET /auth/login?next=/me`: the status and the body.
async fn login_status(base: &str) -> (String, String) {
    match http()
        .get(format!("{base}/auth/login?next=/me"))
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16().to_string();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (error_kind(&e), String::new()),
    }
}

/// `GET /api/v1/bookings` with a Bearer token: the status and the body.
async fn bearer(base: &str, token: &str) -> (String, String) {
    match http()
        .get(format!("{base}/api/v1/bookings"))
        .bearer_auth(token)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16().to_string();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (error_kind(&e), String::new()),
    }
}

/// A browser with its own cookies that follows no redirect by itself.
fn browser() -> (Arc<Jar>, reqwest::Client) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    (jar, client)
}

/// Follows the provider's pages from `url` and signs in on its login form; returns the URL
/// it sends the browser back to (the redirect URI, not visited).
async fn provider_login(
    client: &reqwest::Client,
    mut url: url::Url,
    back_to: &str,
    username: &str,
    password: &str,
) -> Res<url::Url> {
    for _ in 0..10 {
        let response = client.get(url.clone()).send().await.ctx("provider page")?;
        if response.status().is_redirection() {
            let next = url.join(location(&response)?).ctx("redirect")?;
            if next.as_str().starts_with(back_to) {
                return Ok(next);
            }
            url = next;
            continue;
        }
        let page = response.text().await.ctx("provider page")?;
        let form = page
            .find("id=\"kc-form-login\"")
            .ctx("the provider shows no login form")?;
        let rest = &page[form..];
        let from = rest.find("action=\"").ctx("no form action")? + "action=\"".len();
        let action = rest[from..]
            .split('"')
            .next()
            .unwrap_or_default()
            .replace("&amp;", "&");
        let action = url.join(&action).ctx("form action")?;
        let response = client
            .post(action.clone())
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .ctx("posting the login form")?;
        if !response.status().is_redirection() {
            return Err(format!("the login form answered {}", response.status()));
        }
        let next = action.join(location(&response)?).ctx("redirect")?;
        if next.as_str().starts_with(back_to) {
            return Ok(next);
        }
        url = next;
    }
    Err("the provider did not send the browser back".into())
}

fn location(response: &reqwest::Response) -> Res<&str> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ctx("a redirect without Location")
}

/// Signs `username` in on Roster at `base` through the provider; returns the session cookie.
async fn oidc_sign_in(base: &str, username: &str, password: &str) -> Res<String> {
    let (jar, client) = browser();
    let response = client
        .get(format!("{base}/auth/login?next=/me"))
        .send()
        .await
        .ctx("/auth/login")?;
    if response.status() != StatusCode::SEE_OTHER {
        return Err(format!("/auth/login answered {}", response.status()));
    }
    let to = url::Url::parse(location(&response)?).ctx("provider URL")?;
    let callback = provider_login(
        &client,
        to,
        &format!("{base}/auth/callback"),
        username,
        password,
    )
    .await?;
    let response = client.get(callback).send().await.ctx("/auth/callback")?;
    if response.status() != StatusCode::SEE_OTHER {
        return Err(format!(
            "/auth/callback answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        ));
    }
    let base_url = url::Url::parse(base).ctx("base")?;
    let cookies = jar.cookies(&base_url).ctx("no cookies for Roster")?;
    cookies
        .to_str()
        .ok()
        .and_then(|c| {
            c.split("; ")
                .find(|c| c.starts_with("roster_session="))
                .map(str::to_string)
        })
        .ctx("no roster_session cookie")
}

/// An access token for `username` from the provider (authorization code flow with PKCE, as a
/// phone app gets one).
async fn access_token(issuer: &str, base: &str, username: &str, password: &str) -> Res<String> {
    let (_, client) = browser();
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = format!("{base}/auth/callback");
    let auth = url::Url::parse_with_params(
        &format!("{issuer}/protocol/openid-connect/auth"),
        &[
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("redirect_uri", redirect.as_str()),
            ("state", "drill"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .ctx("auth URL")?;
    let back = provider_login(&client, auth, &redirect, username, password).await?;
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ctx("no code")?;
    let response = client
        .post(format!("{issuer}/protocol/openid-connect/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .ctx("token endpoint")?;
    let value: serde_json::Value = response.json().await.ctx("token response")?;
    value["access_token"]
        .as_str()
        .map(str::to_string)
        .ctx("no access_token")
}
