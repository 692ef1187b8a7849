//! Society rows and the rules for creating one.

use sqlx::{PgConnection, PgPool};

use super::{NewSociety, Society, SocietyId};
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::members::{MembershipRole, MembershipStatus};

/// All IANA time zone names known to the server.
pub fn time_zone_names() -> Vec<String> {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name().to_string())
        .collect()
}

/// Everyone: all societies by name.
pub async fn list(pool: &PgPool) -> AppResult<Vec<Society>> {
    let rows = sqlx::query_as!(
        Society,
        r#"select id as "id: SocietyId", slug, name, description, time_zone from societies order by name, slug"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Everyone: the society with this slug.
pub async fn find_by_slug(pool: &PgPool, slug: &str) -> AppResult<Option<Society>> {
    let row = sqlx::query_as!(
        Society,
        r#"select id as "id: SocietyId", slug, name, description, time_zone from societies where slug = $1"#,
        slug
    )
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Platform admins only: creates the society, makes `actor` its first (approved) admin and
/// records both in the audit log, all in the caller's transaction.
#[tracing::instrument(skip_all, fields(actor = %actor.id.0))]
pub async fn create(
    conn: &mut PgConnection,
    actor: &CurrentUser,
    new: NewSociety,
) -> AppResult<Society> {
    if !actor.is_platform_admin {
        return Err(AppError::Forbidden);
    }
    let new = new.validated()?;
    if new.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(AppError::invalid(
            "time_zone",
            format!(
                "\"{}\" is not a time zone we know. Pick one from the list, like Europe/Berlin.",
                new.time_zone
            ),
        ));
    }
    let society = sqlx::query_as!(
        Society,
        r#"insert into societies (slug, name, time_zone, created_by) values ($1, $2, $3, $4)
           returning id as "id: SocietyId", slug, name, description, time_zone"#,
        new.slug,
        new.name,
        new.time_zone,
        actor.id.0,
    )
    .fetch_one(&mut *conn)
    .await?;
    crate::members::db::put(
        &mut *conn,
        society.id,
        actor.id,
        MembershipRole::Admin,
        MembershipStatus::Approved,
    )
    .await?;
    crate::audit::record(
        &mut *conn,
        Some(society.id),
        actor.id,
        "society.created",
        Some(society.id.0.to_string()),
        serde_json::json!({ "slug": society.slug, "name": society.name, "time_zone": society.time_zone }),
    )
    .await?;
    Ok(society)
}
