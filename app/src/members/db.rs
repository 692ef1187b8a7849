//! Membership rows.

use sqlx::{PgConnection, PgPool};

use super::{MembershipRole, MembershipStatus, MyMembership};
use crate::auth::UserId;
use crate::error::AppResult;
use crate::societies::SocietyId;

/// The user's own memberships, by society name.
pub async fn list_for_user(pool: &PgPool, user: UserId) -> AppResult<Vec<MyMembership>> {
    let rows = sqlx::query_as!(
        MyMembership,
        r#"select s.id as "society_id: SocietyId", s.slug as society_slug, s.name as society_name,
                  m.role as "role: MembershipRole", m.status as "status: MembershipStatus"
             from memberships m join societies s on s.id = m.society_id
            where m.user_id = $1
            order by s.name"#,
        user as UserId,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Puts `user` into `society` with `role` and `status` (or updates an existing membership).
/// Callers authorise and audit.
pub async fn put(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
    role: MembershipRole,
    status: MembershipStatus,
) -> AppResult<()> {
    sqlx::query!(
        r#"insert into memberships (society_id, user_id, role, status) values ($1, $2, $3, $4)
           on conflict on constraint memberships_pkey
           do update set role = excluded.role, status = excluded.status, updated_at = now()"#,
        society as SocietyId,
        user as UserId,
        role as MembershipRole,
        status as MembershipStatus,
    )
    .execute(conn)
    .await?;
    Ok(())
}
