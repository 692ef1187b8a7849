//! Domain rules against a real PostgreSQL: each test gets a fresh, migrated database.

use app::auth::db::{self as users, Identity};
use app::auth::CurrentUser;
use app::error::AppError;
use app::members::{MembershipRole, MembershipStatus};
use app::societies::{db as societies, NewSociety};
use sqlx::PgPool;

mod invitations;
mod management;
mod members;

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
                name: name.into(),
                is_platform_admin: platform_admin,
            },
        )
        .await
        .unwrap()
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
        let created = societies::create(&mut tx, &admin, society(slug))
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
    let society = societies::create(&mut tx, &admin, fx::society("harbour-rowing"))
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
        sqlx::query_as("select action, actor_id from audit_log where society_id = $1")
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
    let err = societies::create(&mut tx, &member, fx::society("harbour-rowing"))
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
        let err = societies::create(&mut tx, &admin, new.clone())
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
    societies::create(&mut tx, &admin, fx::society("harbour-rowing"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let err = societies::create(&mut tx, &admin, fx::society("harbour-rowing"))
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
    assert_eq!(
        AppError::from(err).field_message("slug"),
        Some(app::societies::SLUG_RULE)
    );
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
    let token = users::create_email_token(&mut conn, " Member@Example.org ", "/me", "10.0.0.1")
        .await
        .unwrap();
    let redeemed = users::redeem_email_token(&mut conn, &token).await.unwrap();
    assert_eq!(
        (redeemed.email.as_str(), redeemed.next.as_str()),
        ("member@example.org", "/me")
    );
    let again = users::redeem_email_token(&mut conn, &token)
        .await
        .unwrap_err();
    assert!(again.field_message("token").is_some());
    // Only the hash is stored.
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from email_login_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(stored, token.as_bytes());
}

#[sqlx::test(migrations = "../migrations")]
async fn an_email_token_expires_after_15_minutes(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let token = users::create_email_token(&mut conn, "member@example.org", "/", "10.0.0.1")
        .await
        .unwrap();
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
async fn email_links_are_rate_limited_per_address_and_per_client(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    for _ in 0..users::MAX_LINKS_PER_EMAIL {
        users::create_email_token(&mut conn, "a@example.org", "/", "10.0.0.1")
            .await
            .unwrap();
    }
    let err = users::create_email_token(&mut conn, "A@example.org", "/", "10.0.0.2")
        .await
        .unwrap_err();
    assert_eq!(err, AppError::RateLimited);

    for i in users::MAX_LINKS_PER_EMAIL..users::MAX_LINKS_PER_CLIENT {
        users::create_email_token(&mut conn, &format!("p{i}@example.org"), "/", "10.0.0.1")
            .await
            .unwrap();
    }
    let err = users::create_email_token(&mut conn, "fresh@example.org", "/", "10.0.0.1")
        .await
        .unwrap_err();
    assert_eq!(err, AppError::RateLimited);
    // Another client can still ask for its own address.
    users::create_email_token(&mut conn, "fresh@example.org", "/", "10.0.0.3")
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_emails_and_foreign_next_paths_are_refused_or_neutralised(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    for bad in [
        "",
        "not-an-email",
        "a@",
        "a b@example.org",
        &format!("{}@example.org", "x".repeat(260)),
    ] {
        let err = users::create_email_token(&mut conn, bad, "/", "10.0.0.1")
            .await
            .unwrap_err();
        assert!(err.field_message("email").is_some(), "{bad:?}");
    }
    let token =
        users::create_email_token(&mut conn, "a@example.org", "//evil.example/x", "10.0.0.1")
            .await
            .unwrap();
    assert_eq!(
        users::redeem_email_token(&mut conn, &token)
            .await
            .unwrap()
            .next,
        "/"
    );
    assert_eq!(fx::count(&pool, "email_login_tokens").await, 1);
}
