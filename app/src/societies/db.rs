//! Society rows and the rules for creating one.

use sqlx::{PgConnection, PgPool};

use super::{JoinPolicy, NewSociety, Society, SocietyId, SocietySettings};
use crate::auth::CurrentUser;
use crate::auth::UserId;
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
        r#"select id as "id: SocietyId", slug, name, description, time_zone,
                  join_policy as "join_policy: JoinPolicy" from societies order by name, slug"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Everyone: the society with this slug.
pub async fn find_by_slug(pool: &PgPool, slug: &str) -> AppResult<Option<Society>> {
    let row = sqlx::query_as!(
        Society,
        r#"select id as "id: SocietyId", slug, name, description, time_zone,
                  join_policy as "join_policy: JoinPolicy" from societies where slug = $1"#,
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
    check_time_zone(&new.time_zone)?;
    let society = sqlx::query_as!(
        Society,
        r#"insert into societies (slug, name, time_zone, created_by) values ($1, $2, $3, $4)
           returning id as "id: SocietyId", slug, name, description, time_zone,
                     join_policy as "join_policy: JoinPolicy""#,
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

/// Refuses a time zone name the tz database does not know.
fn check_time_zone(name: &str) -> AppResult<()> {
    if name.parse::<chrono_tz::Tz>().is_err() {
        return Err(AppError::invalid(
            "time_zone",
            format!("\"{name}\" is not a time zone we know. Pick one from the list, like Europe/Berlin."),
        ));
    }
    Ok(())
}

/// Society admins: changes the society's settings; the audit log records each changed field
/// with its old and new value.
#[tracing::instrument(skip_all, fields(society = %society.0))]
pub async fn update_settings(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    settings: SocietySettings,
) -> AppResult<Society> {
    crate::members::db::lock_as_admin(&mut *conn, society, actor).await?;
    let new = settings.validated()?;
    check_time_zone(&new.time_zone)?;
    let old = sqlx::query_as!(
        Society,
        r#"select id as "id: SocietyId", slug, name, description, time_zone,
                  join_policy as "join_policy: JoinPolicy"
             from societies where id = $1"#,
        society as SocietyId,
    )
    .fetch_one(&mut *conn)
    .await?;
    let updated = sqlx::query_as!(
        Society,
        r#"update societies set name = $2, description = $3, time_zone = $4, join_policy = $5
            where id = $1
        returning id as "id: SocietyId", slug, name, description, time_zone,
                  join_policy as "join_policy: JoinPolicy""#,
        society as SocietyId,
        new.name,
        new.description,
        new.time_zone,
        new.join_policy as JoinPolicy,
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut changes = serde_json::Map::new();
    let mut note = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            changes.insert(field.into(), serde_json::json!({ "from": from, "to": to }));
        }
    };
    note("name", old.name.into(), updated.name.clone().into());
    note(
        "description",
        old.description.into(),
        updated.description.clone().into(),
    );
    note(
        "time_zone",
        old.time_zone.into(),
        updated.time_zone.clone().into(),
    );
    note(
        "join_policy",
        serde_json::json!(old.join_policy),
        serde_json::json!(updated.join_policy),
    );
    if !changes.is_empty() {
        crate::audit::record(
            &mut *conn,
            Some(society),
            actor,
            "society.settings_changed",
            Some(society.0.to_string()),
            serde_json::Value::Object(changes),
        )
        .await?;
    }
    Ok(updated)
}
