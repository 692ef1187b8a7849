//! Domain rules against a real PostgreSQL: each test gets a fresh, migrated database.

use app::access::{CurrentUser, MembershipRole, MembershipStatus};
use app::auth::db::{self as users, Identity};
use app::error::AppError;
use app::societies::NewSociety;
use sqlx::PgPool;

mod access;
mod bookings;
mod calls;
mod events;
mod invitations;
mod jobs;
mod management;
mod members;
mod notifications;

mod fx {
    use super::*;

    pub async fn user(pool: &PgPool, name: &str, platform_admin: bool) -> CurrentUser {
        let mut conn = pool.acquire().await.unwrap();
        users::upsert_identity(
            &mut conn,
            &Identity {
                issuer: "https://idp.test/realms/t".into(),
                subject: format!("sub-{name}"),
                email: format!("{name}@example.org"),
                email_verified: true,
                name: name.into(),
                is_platform_admin: platform_admin,
            },
        )
        .await
        .unwrap()
    }

    /// Puts `user` into `society` with `role` and `status` directly (test set-up, no rules).
    pub async fn put_membership(
        conn: &mut sqlx::PgConnection,
        society: app::ids::SocietyId,
        user: app::ids::UserId,
        role: MembershipRole,
        status: MembershipStatus,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "insert into memberships (society_id, user_id, role, status) values ($1, $2, $3, $4)
             on conflict on constraint memberships_pkey do update set role = excluded.role, status = excluded.status",
        )
        .bind(society)
        .bind(user)
        .bind(role)
        .bind(status)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The second party of a race: runs `call` in a transaction of its own on another task,
    /// committing when it succeeds. Pair it with `wait_until_blocked`.
    pub fn in_background<T: Send + 'static>(
        pool: &PgPool,
        call: impl for<'c> FnOnce(
                &'c mut sqlx::PgConnection,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, AppError>> + Send + 'c>,
            > + Send
            + 'static,
    ) -> tokio::task::JoinHandle<Result<T, AppError>> {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let result = call(&mut tx).await;
            if result.is_ok() {
                tx.commit().await.unwrap();
            }
            result
        })
    }

    /// Waits until `n` sessions wait for a lock (`pg_stat_activity`), so a race test knows the
    /// other transaction is blocked behind its lock, not merely slow. Panics after 10 s.
    pub async fn wait_until_blocked(pool: &PgPool, n: i64) {
        let started = std::time::Instant::now();
        loop {
            let blocked: i64 = sqlx::query_scalar(
                "select count(*) from pg_stat_activity
                  where datname = current_database() and wait_event_type = 'Lock'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if blocked >= n {
                return;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "expected {n} transaction(s) waiting for a lock, saw {blocked}"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub fn society(slug: &str) -> NewSociety {
        NewSociety {
            name: "Harbour Rowing Club".into(),
            slug: slug.into(),
            time_zone: "Europe/Berlin".into(),
        }
    }

    /// A society created by a fresh platform admin, who is its first admin.
    pub async fn society_with_admin(
        pool: &PgPool,
        slug: &str,
    ) -> (app::societies::Society, CurrentUser) {
        let admin = user(pool, &format!("admin-{slug}"), true).await;
        let mut tx = pool.begin().await.unwrap();
        let created = crate::calls::create_society(&mut tx, &admin, society(slug))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        (created, admin)
    }

    pub async fn count(pool: &PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(pool)
            .await
            .unwrap()
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn platform_admin_creates_society_and_becomes_its_admin(pool: PgPool) {
    let admin = fx::user(&pool, "ada", true).await;
    let mut tx = pool.begin().await.unwrap();
    let society = crate::calls::create_society(&mut tx, &admin, fx::society("harbour-rowing"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(society.slug, "harbour-rowing");
    assert_eq!(society.time_zone, "Europe/Berlin");
    let mine = app::members::db::list_for_user(&pool, admin.id)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (mine[0].role, mine[0].status),
        (MembershipRole::Admin, MembershipStatus::Approved)
    );
    let (action, actor): (String, uuid::Uuid) =
        sqlx::query_as("select action::text, actor_id from audit_log where society_id = $1")
            .bind(society.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((action.as_str(), actor), ("society.created", admin.id.0));
}

#[sqlx::test(migrations = "../migrations")]
async fn only_platform_admins_create_societies(pool: PgPool) {
    let member = fx::user(&pool, "mia", false).await;
    let mut tx = pool.begin().await.unwrap();
    let err = crate::calls::create_society(&mut tx, &member, fx::society("harbour-rowing"))
        .await
        .unwrap_err();
    assert_eq!(err, AppError::Forbidden);
    drop(tx);
    assert_eq!(fx::count(&pool, "societies").await, 0);
    assert_eq!(fx::count(&pool, "audit_log").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_slugs_names_and_time_zones_are_rejected_with_nothing_written(pool: PgPool) {
    let admin = fx::user(&pool, "ada", true).await;
    let cases = [
        (
            NewSociety {
                slug: "Bad Slug".into(),
                ..fx::society("x")
            },
            "slug",
        ),
        (
            NewSociety {
                slug: "-edge".into(),
                ..fx::society("x")
            },
            "slug",
        ),
        (
            NewSociety {
                slug: "a--b".into(),
                ..fx::society("x")
            },
            "slug",
        ),
        (
            NewSociety {
                slug: "a".into(),
                ..fx::society("x")
            },
            "slug",
        ),
        (
            NewSociety {
                name: "   ".into(),
                ..fx::society("ok-slug")
            },
            "name",
        ),
        (
            NewSociety {
                name: "x".repeat(101),
                ..fx::society("ok-slug")
            },
            "name",
        ),
        (
            NewSociety {
                time_zone: "Mars/Olympus_Mons".into(),
                ..fx::society("ok-slug")
            },
            "time_zone",
        ),
        (
            NewSociety {
                time_zone: "".into(),
                ..fx::society("ok-slug")
            },
            "time_zone",
        ),
    ];
    for (new, field) in cases {
        let mut tx = pool.begin().await.unwrap();
        let err = crate::calls::create_society(&mut tx, &admin, new.clone())
            .await
            .unwrap_err();
        assert!(
            err.field_message(field).is_some(),
            "{new:?} should fail on {field}, got {err:?}"
        );
    }
    assert_eq!(fx::count(&pool, "societies").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_taken_slug_is_a_clear_field_error(pool: PgPool) {
    let admin = fx::user(&pool, "ada", true).await;
    let mut tx = pool.begin().await.unwrap();
    crate::calls::create_society(&mut tx, &admin, fx::society("harbour-rowing"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let err = crate::calls::create_society(&mut tx, &admin, fx::society("harbour-rowing"))
        .await
        .unwrap_err();
    assert!(
        err.field_message("slug").unwrap().contains("already taken"),
        "{err:?}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_refuses_a_bad_slug_even_without_the_domain_check(pool: PgPool) {
    let err =
        sqlx::query("insert into societies (slug, name, time_zone) values ('Not OK', 'x', 'UTC')")
            .execute(&pool)
            .await
            .unwrap_err();
    let constraint = err.as_database_error().and_then(|e| e.constraint());
    assert_eq!(constraint, Some("societies_slug_format"));
}

#[sqlx::test(migrations = "../migrations")]
async fn login_refreshes_email_name_and_role_but_keeps_the_user(pool: PgPool) {
    let first = fx::user(&pool, "ada", true).await;
    let mut conn = pool.acquire().await.unwrap();
    let again = users::upsert_identity(
        &mut conn,
        &Identity {
            issuer: "https://idp.test/realms/t".into(),
            subject: "sub-ada".into(),
            email: "Ada.New@Example.org".into(),
            email_verified: true,
            name: "Ada Lovelace".into(),
            is_platform_admin: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        (
            again.email.as_str(),
            again.name.as_str(),
            again.is_platform_admin
        ),
        ("ada.new@example.org", "Ada Lovelace", false)
    );
    assert_eq!(fx::count(&pool, "users").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_email_token_works_once(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let token = users::create_email_token(&mut conn, " Member@Example.org ", "10.0.0.1")
        .await
        .unwrap()
        .expect("a new link");
    let redeemed = users::redeem_email_token(&mut conn, &token).await.unwrap();
    assert_eq!(redeemed, "member@example.org");
    let again = users::redeem_email_token(&mut conn, &token)
        .await
        .unwrap_err();
    assert!(again.field_message("token").is_some());
    // Only the hash is stored: the row holds SHA-256(token) and nothing else of the secret.
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from email_login_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    use sha2::Digest;
    assert_eq!(stored, sha2::Sha256::digest(token.as_bytes()).to_vec());
    let row: String = sqlx::query_scalar("select row_to_json(t)::text from email_login_tokens t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!row.contains(&token), "the token appears in {row}");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_email_token_expires_after_15_minutes(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let token = users::create_email_token(&mut conn, "member@example.org", "10.0.0.1")
        .await
        .unwrap()
        .expect("a new link");
    let expires_in: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8 from email_login_tokens",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(expires_in, 15.0 * 60.0);
    sqlx::query("update email_login_tokens set expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(users::redeem_email_token(&mut conn, &token).await.is_err());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stranger_asking_for_links_never_locks_the_owner_out(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    // A stranger (10.0.0.66) asks for links to Ada's address again and again.
    let mut links = Vec::new();
    for _ in 0..10 {
        if let Some(token) = users::create_email_token(&mut conn, "ada@example.org", "10.0.0.66")
            .await
            .expect("never refused for the address")
        {
            links.push(token);
        }
    }
    assert_eq!(
        links.len() as i64,
        users::MAX_LINKS_PER_EMAIL,
        "a few links reach Ada's inbox, then no more mail"
    );
    // Ada asks herself: no error, and a link from her inbox signs her in.
    let asked = users::create_email_token(&mut conn, "Ada@example.org", "10.0.0.2").await;
    assert!(asked.is_ok(), "Ada is not locked out: {asked:?}");
    let newest = links.last().unwrap();
    assert_eq!(
        users::redeem_email_token(&mut conn, newest).await.unwrap(),
        "ada@example.org"
    );
    // With one used, the next request makes a new link again.
    assert!(
        users::create_email_token(&mut conn, "ada@example.org", "10.0.0.2")
            .await
            .unwrap()
            .is_some()
    );
    // Links that expired do not count either.
    sqlx::query("update email_login_tokens set expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        users::create_email_token(&mut conn, "ada@example.org", "10.0.0.2")
            .await
            .unwrap()
            .is_some()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn email_links_are_rate_limited_per_client(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    for i in 0..users::MAX_LINKS_PER_CLIENT {
        users::create_email_token(&mut conn, &format!("p{i}@example.org"), "10.0.0.1")
            .await
            .unwrap();
    }
    let err = users::create_email_token(&mut conn, "fresh@example.org", "10.0.0.1")
        .await
        .unwrap_err();
    match err {
        AppError::RateLimited { retry_after } => assert!(
            (3000..=3600).contains(&retry_after),
            "about an hour until the oldest link leaves the window: {retry_after}"
        ),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    // Another client can still ask for its own address.
    users::create_email_token(&mut conn, "fresh@example.org", "10.0.0.3")
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_emails_are_refused_with_nothing_written(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    for bad in [
        "",
        "not-an-email",
        "a@",
        "a b@example.org",
        &format!("{}@example.org", "x".repeat(260)),
    ] {
        let err = users::create_email_token(&mut conn, bad, "10.0.0.1")
            .await
            .unwrap_err();
        assert!(err.field_message("email").is_some(), "{bad:?}");
    }
    assert_eq!(fx::count(&pool, "email_login_tokens").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_address_counts_as_verified_only_when_the_provider_or_a_link_says_so(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let identity = |subject: &str, email: &str, verified: bool| Identity {
        issuer: "https://idp.test/realms/t".into(),
        subject: subject.into(),
        email: email.into(),
        email_verified: verified,
        name: subject.into(),
        is_platform_admin: false,
    };
    let typed = users::upsert_identity(&mut conn, &identity("kim", "kim@example.org", false))
        .await
        .unwrap();
    assert!(!typed.email_verified);
    let blank = users::upsert_identity(&mut conn, &identity("nobody", "", true))
        .await
        .unwrap();
    assert!(!blank.email_verified, "no address, nothing verified");
    // The provider verifies it later: the next sign-in says so.
    let later = users::upsert_identity(&mut conn, &identity("kim", "kim@example.org", true))
        .await
        .unwrap();
    assert_eq!(later.id, typed.id);
    assert!(later.email_verified);
    let linked = users::upsert_email_user(&mut conn, "lee@example.org", false)
        .await
        .unwrap();
    assert!(linked.email_verified, "an email link proves the address");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_knows_exactly_the_audit_actions_the_code_writes(pool: PgPool) {
    let stored: Vec<String> =
        sqlx::query_scalar("select unnest(enum_range(null::audit_action))::text")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut stored = stored;
    stored.sort();
    let mut code: Vec<String> = app::audit::AuditAction::ALL
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    code.sort();
    assert_eq!(stored, code);
}
