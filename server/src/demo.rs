//! Demo data for a newcomer's first run: one society with an admin, trainers and members.
//! Loading is idempotent: running it again changes nothing.

use app::access::{require_platform_admin, MembershipRole, MembershipStatus};
use app::auth::db::{upsert_identity, Identity, EMAIL_ISSUER};
use app::error::AppError;
use app::societies::NewSociety;
use app::state::DemoAccount;
use sqlx::PgPool;

/// The demo admin is a platform admin too, so a newcomer can create societies.
pub const PLATFORM_ADMIN_EMAIL: &str = "admin@demo.roster.test";
pub const SOCIETY_SLUG: &str = "riverside-rowing";

/// (email, name, role, status); the first three are named on the sign-in page.
const PEOPLE: &[(&str, &str, MembershipRole, MembershipStatus)] = &[
    (
        PLATFORM_ADMIN_EMAIL,
        "Alex Admin",
        MembershipRole::Admin,
        MembershipStatus::Approved,
    ),
    (
        "trainer@demo.roster.test",
        "Tara Trainer",
        MembershipRole::Trainer,
        MembershipStatus::Approved,
    ),
    (
        "member@demo.roster.test",
        "Max Member",
        MembershipRole::Member,
        MembershipStatus::Approved,
    ),
    (
        "coach@demo.roster.test",
        "Chris Coach",
        MembershipRole::Trainer,
        MembershipStatus::Approved,
    ),
    (
        "jo@demo.roster.test",
        "Jo Rower",
        MembershipRole::Member,
        MembershipStatus::Approved,
    ),
    (
        "sam@demo.roster.test",
        "Sam Sculler",
        MembershipRole::Member,
        MembershipStatus::Approved,
    ),
    (
        "newcomer@demo.roster.test",
        "Nia Newcomer",
        MembershipRole::Member,
        MembershipStatus::Pending,
    ),
];

/// Loads the demo society and people; returns the accounts to name on the sign-in page.
pub async fn load(pool: &PgPool) -> Result<Vec<DemoAccount>, AppError> {
    let mut tx = pool.begin().await?;
    let mut users = Vec::new();
    for (email, name, _, _) in PEOPLE {
        let identity = Identity {
            issuer: EMAIL_ISSUER.into(),
            subject: email.to_string(),
            email: email.to_string(),
            email_verified: true,
            name: name.to_string(),
            is_platform_admin: *email == PLATFORM_ADMIN_EMAIL,
        };
        users.push(upsert_identity(&mut tx, &identity).await?);
    }
    let society = match app::societies::db::find_by_slug(pool, SOCIETY_SLUG).await? {
        Some(society) => society,
        None => {
            let new = NewSociety {
                name: "Riverside Rowing Club".into(),
                slug: SOCIETY_SLUG.into(),
                time_zone: "Europe/Berlin".into(),
            };
            let creator = require_platform_admin(&users[0])?;
            app::societies::db::create(&mut tx, &creator, new).await?
        }
    };
    // Demo data, not a person's decision: written as it is, without the audit log.
    for ((_, _, role, status), user) in PEOPLE.iter().zip(&users).skip(1) {
        sqlx::query(
            "insert into memberships (society_id, user_id, role, status) values ($1, $2, $3, $4)
             on conflict on constraint memberships_pkey do update set role = excluded.role, status = excluded.status",
        )
        .bind(society.id)
        .bind(user.id)
        .bind(*role)
        .bind(*status)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        society = SOCIETY_SLUG,
        people = PEOPLE.len(),
        "demo data loaded"
    );
    Ok(PEOPLE
        .iter()
        .take(3)
        .map(|(email, name, role, _)| DemoAccount {
            email: email.to_string(),
            name: name.to_string(),
            role: role.label().to_string(),
        })
        .collect())
}
