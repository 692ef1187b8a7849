//! Society rows and the rules for creating one.

use sqlx::{PgConnection, PgPool};

use super::{JoinPolicy, NewSociety, Society, SocietySettings, NAME_RULE, SLUG_RULE};
use crate::access::{MembershipRole, PlatformAdmin, SocietyAdmin};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::ids::{SocietyId, UserId};

/// The society constraints a caller's input can violate, with what they are told.
fn constraint_message(name: &str) -> Option<AppError> {
    Some(match name {
        "societies_slug_key" => {
            AppError::invalid("slug", "This address is already taken by another society.")
        }
        "societies_slug_format" => AppError::invalid("slug", SLUG_RULE),
        "societies_name_length" => AppError::invalid("name", NAME_RULE),
        "societies_description_length" => AppError::invalid(
            "description",
            format!(
                "Please keep the description under {} characters.",
                super::MAX_DESCRIPTION_LEN
            ),
        ),
        _ => return None,
    })
}

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
                  join_policy as "join_policy: JoinPolicy", calendar_public from societies order by name, slug"#
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
                  join_policy as "join_policy: JoinPolicy", calendar_public from societies where slug = $1"#,
        slug
    )
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Platform admins: creates the society, makes its creator the first (approved) admin and
/// records both in the audit log, all in the caller's transaction.
#[tracing::instrument(skip_all, fields(actor = %creator.user().0))]
pub async fn create(
    conn: &mut PgConnection,
    creator: &PlatformAdmin,
    new: NewSociety,
) -> AppResult<Society> {
    let new = new.validated()?;
    check_time_zone(&new.time_zone)?;
    let society = sqlx::query_as!(
        Society,
        r#"insert into societies (slug, name, time_zone, created_by) values ($1, $2, $3, $4)
           returning id as "id: SocietyId", slug, name, description, time_zone,
                     join_policy as "join_policy: JoinPolicy", calendar_public"#,
        new.slug,
        new.name,
        new.time_zone,
        creator.user() as UserId,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message))?;
    sqlx::query!(
        "insert into memberships (society_id, user_id, role, status, decided_by, decided_at)
         values ($1, $2, $3, 'approved', $2, now())",
        society.id as SocietyId,
        creator.user() as UserId,
        MembershipRole::Admin as MembershipRole,
    )
    .execute(&mut *conn)
    .await?;
    crate::audit::record(
        &mut *conn,
        Some(society.id),
        creator.user(),
        AuditAction::SocietyCreated,
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
#[tracing::instrument(skip_all, fields(society = %admin.society().0))]
pub async fn update_settings(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    settings: SocietySettings,
) -> AppResult<Society> {
    let society = admin.society();
    let new = settings.validated()?;
    check_time_zone(&new.time_zone)?;
    let old = sqlx::query_as!(
        Society,
        r#"select id as "id: SocietyId", slug, name, description, time_zone,
                  join_policy as "join_policy: JoinPolicy", calendar_public
             from societies where id = $1"#,
        society as SocietyId,
    )
    .fetch_one(&mut *conn)
    .await?;
    let updated = sqlx::query_as!(
        Society,
        r#"update societies set name = $2, description = $3, time_zone = $4, join_policy = $5,
                                calendar_public = $6
            where id = $1
        returning id as "id: SocietyId", slug, name, description, time_zone,
                  join_policy as "join_policy: JoinPolicy", calendar_public"#,
        society as SocietyId,
        new.name,
        new.description,
        new.time_zone,
        new.join_policy as JoinPolicy,
        new.calendar_public,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message))?;
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
    note(
        "calendar_public",
        old.calendar_public.into(),
        updated.calendar_public.into(),
    );
    if !changes.is_empty() {
        crate::audit::record(
            &mut *conn,
            Some(society),
            admin.user(),
            AuditAction::SocietySettingsChanged,
            Some(society.0.to_string()),
            serde_json::Value::Object(changes),
        )
        .await?;
    }
    Ok(updated)
}

/// How many requests to join `society` wait (for its admins' navigation).
pub async fn pending_requests(conn: &mut PgConnection, society: SocietyId) -> AppResult<i64> {
    let pending = sqlx::query_scalar!(
        r#"select count(*) as "pending!" from memberships where society_id = $1 and status = 'pending'"#,
        society as SocietyId,
    )
    .fetch_one(conn)
    .await?;
    Ok(pending)
}
