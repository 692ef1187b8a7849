//! Demo data for a newcomer's first run: one society with an admin, trainers and members.
//! Loading is idempotent: running it again changes nothing.

use app::auth::db::{upsert_identity, Identity, EMAIL_ISSUER};
use app::auth::DemoAccount;
use app::error::AppError;
use app::members::{MembershipRole, MembershipStatus};
use app::societies::NewSociety;
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
            app::societies::db::create(&mut tx, &users[0], new).await?
        }
    };
    for ((_, _, role, status), user) in PEOPLE.iter().zip(&users).skip(1) {
        app::members::db::put(&mut tx, society.id, user.id, *role, *status).await?;
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
