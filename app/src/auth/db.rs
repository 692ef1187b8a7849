//! Users and email sign-in tokens.

use sqlx::PgConnection;

use crate::access::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use crate::mail::normalize_email;
use crate::secret::{hash_token, new_token};

/// The issuer recorded for people who sign in by email link.
pub const EMAIL_ISSUER: &str = "roster:email";
/// Sign-in links expire this many minutes after they are sent.
pub const EMAIL_TOKEN_MINUTES: i64 = 15;
/// At most this many unused, unexpired links to one address at a time: past that no new link
/// is made (and no mail sent), but nobody is locked out, because the owner of the address
/// holds a working link from the last `EMAIL_TOKEN_MINUTES` already, whoever asked for it.
pub const MAX_LINKS_PER_EMAIL: i64 = 3;
/// At most this many links per client address within `RATE_WINDOW_MINUTES` (then 429).
pub const MAX_LINKS_PER_CLIENT: i64 = 20;
pub const RATE_WINDOW_MINUTES: i64 = 60;
const MAX_EMAIL_LEN: usize = 254;
const MAX_NAME_LEN: usize = 200;

/// What an identity provider says about a person at sign-in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: String,
    /// The provider vouches that the address is the person's (OIDC `email_verified`).
    pub email_verified: bool,
    pub name: String,
    pub is_platform_admin: bool,
}

/// Anyone: finds the user for an identity (issuer + subject) or creates it; refreshes the
/// email (and whether it is verified), name and platform-admin flag from the identity
/// provider.
#[tracing::instrument(skip_all, fields(issuer = %identity.issuer))]
pub async fn upsert_identity(
    conn: &mut PgConnection,
    identity: &Identity,
) -> AppResult<CurrentUser> {
    let name: String = identity.name.trim().chars().take(MAX_NAME_LEN).collect();
    let email: String = identity
        .email
        .trim()
        .to_lowercase()
        .chars()
        .take(MAX_EMAIL_LEN)
        .collect();
    let user = sqlx::query_as!(
        CurrentUser,
        r#"insert into users (issuer, subject, email, email_verified, name, is_platform_admin, last_login_at)
           values ($1, $2, $3, $4, $5, $6, now())
           on conflict on constraint users_identity_key do update
              set email = excluded.email, email_verified = excluded.email_verified, name = excluded.name,
                  is_platform_admin = excluded.is_platform_admin, last_login_at = now()
           returning id as "id: UserId", name, email, email_verified, is_platform_admin"#,
        identity.issuer,
        identity.subject,
        email,
        identity.email_verified && !email.is_empty(),
        name,
        identity.is_platform_admin,
    )
    .fetch_one(conn)
    .await?;
    Ok(user)
}

/// API clients (Bearer tokens): the user for an identity, created on first use and brought up
/// to date when the provider says something new; unlike a sign-in, an unchanged identity
/// writes nothing (API calls come often). A token that carries no profile (`profile` false: no
/// email claim) leaves the stored name and email as they are, and one without realm roles
/// (`roles` false) leaves the platform-admin flag as it is: a narrow token neither blanks a
/// profile nor demotes anyone.
pub async fn sync_identity(
    conn: &mut PgConnection,
    identity: &Identity,
    profile: bool,
    roles: bool,
) -> AppResult<CurrentUser> {
    let found = sqlx::query_as!(
        CurrentUser,
        r#"select id as "id: UserId", name, email, email_verified, is_platform_admin
             from users where issuer = $1 and subject = $2"#,
        identity.issuer,
        identity.subject,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(user) = found else {
        return upsert_identity(conn, identity).await;
    };
    let wanted = Identity {
        email: if profile {
            identity.email.clone()
        } else {
            user.email.clone()
        },
        email_verified: if profile {
            identity.email_verified
        } else {
            user.email_verified
        },
        name: if profile && !identity.name.trim().is_empty() {
            identity.name.clone()
        } else {
            user.name.clone()
        },
        is_platform_admin: if roles {
            identity.is_platform_admin
        } else {
            user.is_platform_admin
        },
        ..identity.clone()
    };
    let email_verified = wanted.email_verified && !wanted.email.trim().is_empty();
    if user.name == wanted.name.trim()
        && user.email == wanted.email.trim().to_lowercase()
        && user.email_verified == email_verified
        && user.is_platform_admin == wanted.is_platform_admin
    {
        return Ok(user);
    }
    upsert_identity(conn, &wanted).await
}

/// Email-link sign-in: the user for a verified address (created with the address's local part
/// as name on first sign-in; a name set later is kept).
pub async fn upsert_email_user(
    conn: &mut PgConnection,
    email: &str,
    is_platform_admin: bool,
) -> AppResult<CurrentUser> {
    let user = sqlx::query_as!(
        CurrentUser,
        r#"insert into users (issuer, subject, email, email_verified, name, is_platform_admin, last_login_at)
           values ($1, $2, $2, true, split_part($2, '@', 1), $3, now())
           on conflict on constraint users_identity_key do update
              set is_platform_admin = excluded.is_platform_admin, last_login_at = now()
           returning id as "id: UserId", name, email, email_verified, is_platform_admin"#,
        EMAIL_ISSUER,
        email,
        is_platform_admin,
    )
    .fetch_one(conn)
    .await?;
    Ok(user)
}

/// Anyone: stores a new sign-in link for `email` (hashed) and returns the secret token; `None`
/// when the address has `MAX_LINKS_PER_EMAIL` working links already (nothing is made: the
/// caller answers as if it had sent one, so a stranger learns nothing and the owner uses a
/// link they have). Refuses with `RateLimited` past the per-client limit.
#[tracing::instrument(skip_all)]
pub async fn create_email_token(
    conn: &mut PgConnection,
    raw_email: &str,
    client: &str,
) -> AppResult<Option<String>> {
    let email = normalize_email(raw_email)?;
    // Serialise requests for the same address so the limit holds under concurrency.
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1, 42))",
        email
    )
    .execute(&mut *conn)
    .await?;
    let recent = sqlx::query!(
        r#"select count(*) filter (where email = $1 and used_at is null and expires_at > now()) as "working!",
                  count(*) filter (where client_address = $2) as "per_client!",
                  min(created_at) filter (where client_address = $2) as "oldest: chrono::DateTime<chrono::Utc>"
             from email_login_tokens
            where created_at > now() - make_interval(mins => $3::int)"#,
        email,
        client,
        RATE_WINDOW_MINUTES as i32,
    )
    .fetch_one(&mut *conn)
    .await?;
    if recent.per_client >= MAX_LINKS_PER_CLIENT {
        tracing::warn!(client, "email sign-in rate limit reached");
        let free_at = recent.oldest.unwrap_or_else(chrono::Utc::now)
            + chrono::Duration::minutes(RATE_WINDOW_MINUTES);
        let wait = (free_at - chrono::Utc::now()).num_seconds().max(1);
        return Err(AppError::rate_limited(wait as u32));
    }
    if recent.working >= MAX_LINKS_PER_EMAIL {
        tracing::info!("enough working sign-in links for this address; no new one");
        return Ok(None);
    }
    let token = new_token();
    sqlx::query!(
        r#"insert into email_login_tokens (token_hash, email, client_address, expires_at)
           values ($1, $2, $3, now() + make_interval(mins => $4::int))"#,
        hash_token(&token),
        email,
        client,
        EMAIL_TOKEN_MINUTES as i32,
    )
    .execute(&mut *conn)
    .await?;
    Ok(Some(token))
}

/// Anyone holding a link: marks its token used, once, if it has not expired; returns the
/// address it was sent to.
#[tracing::instrument(skip_all)]
pub async fn redeem_email_token(conn: &mut PgConnection, token: &str) -> AppResult<String> {
    sqlx::query_scalar!(
        r#"update email_login_tokens set used_at = now()
            where token_hash = $1 and used_at is null and expires_at > now()
        returning email"#,
        hash_token(token.trim()),
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| {
        AppError::invalid(
            "token",
            "This sign-in link has expired or was already used. Please ask for a new one.",
        )
    })
}

/// Deletes sign-in tokens that expired more than a day before `now` (scheduled job
/// `cleanup.tokens`). Returns how many.
pub async fn purge_expired_tokens(
    pool: &sqlx::PgPool,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<u64> {
    let cutoff = now - chrono::Duration::days(1);
    let done = sqlx::query!(
        "delete from email_login_tokens where expires_at < $1",
        cutoff as chrono::DateTime<chrono::Utc>,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
