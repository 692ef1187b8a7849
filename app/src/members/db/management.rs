//! An admin's changes to a membership: role, suspension, removal. A society always keeps one
//! approved admin.

use sqlx::PgConnection;

use super::{checked_text, record_change};
use crate::access::{MembershipRole, MembershipStatus, SocietyAdmin};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::ids::{SocietyId, UserId};
use crate::notifications::NotificationKind;

/// With the society locked (`lock_society`): refuses with `message` when `member` is the
/// society's only approved admin. Every way of losing admin rights (leave, demote, suspend,
/// remove) goes through here, so a society always keeps one admin.
pub(super) async fn ensure_not_last_admin(
    conn: &mut PgConnection,
    society: SocietyId,
    member: UserId,
    message: &str,
) -> AppResult<()> {
    let last = sqlx::query_scalar!(
        r#"select exists (select 1 from memberships
                           where society_id = $1 and user_id = $2 and role = 'admin' and status = 'approved')
              and not exists (select 1 from memberships
                               where society_id = $1 and user_id <> $2 and role = 'admin' and status = 'approved')
              as "last!""#,
        society as SocietyId,
        member as UserId,
    )
    .fetch_one(conn)
    .await?;
    if last {
        return Err(AppError::Conflict(message.into()));
    }
    Ok(())
}

/// `member`'s role and status in `society`, row-locked until the transaction ends.
pub(super) async fn lock_membership(
    conn: &mut PgConnection,
    society: SocietyId,
    member: UserId,
) -> AppResult<Option<(MembershipRole, MembershipStatus)>> {
    let row = sqlx::query!(
        r#"select role as "role: MembershipRole", status as "status: MembershipStatus"
             from memberships where society_id = $1 and user_id = $2 for update"#,
        society as SocietyId,
        member as UserId,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.role, r.status)))
}

/// The approved or suspended membership an admin is about to change, row-locked (after the
/// society, which the proof holds, so the last-admin rule holds); `NotFound` for anyone else.
async fn lock_member(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    member: UserId,
) -> AppResult<(MembershipRole, MembershipStatus)> {
    match lock_membership(&mut *conn, admin.society(), member).await? {
        Some((role, status @ (MembershipStatus::Approved | MembershipStatus::Suspended))) => {
            Ok((role, status))
        }
        Some((_, MembershipStatus::Pending)) => Err(AppError::Conflict(
            "This person has not been approved yet. Decide their request first.".into(),
        )),
        _ => Err(AppError::NotFound),
    }
}

/// Society admins: makes `member` a member, trainer or admin. The last admin cannot be
/// demoted.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, member = %member.0, ?role))]
pub async fn set_role(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    member: UserId,
    role: MembershipRole,
) -> AppResult<()> {
    let (old, _) = lock_member(&mut *conn, admin, member).await?;
    if old == role {
        return Ok(());
    }
    ensure_not_last_admin(
        &mut *conn,
        admin.society(),
        member,
        "This is the society's last admin. Make someone else an admin first.",
    )
    .await?;
    sqlx::query!(
        "update memberships set role = $3, updated_at = now() where society_id = $1 and user_id = $2",
        admin.society() as SocietyId,
        member as UserId,
        role as MembershipRole,
    )
    .execute(&mut *conn)
    .await?;
    record_change(
        conn,
        admin,
        member,
        (
            AuditAction::MembershipRoleChanged,
            NotificationKind::MembershipRoleChanged,
        ),
        serde_json::json!({ "from": old, "to": role }),
    )
    .await
}

/// Society admins: suspends an approved member, with a reason shown to them. A suspended
/// member keeps their history but may do nothing as a member. Not the last admin.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, member = %member.0))]
pub async fn suspend(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    member: UserId,
    reason: &str,
) -> AppResult<()> {
    let (_, status) = lock_member(&mut *conn, admin, member).await?;
    let reason = checked_text("reason", reason)?;
    if status == MembershipStatus::Suspended {
        return Err(AppError::Conflict(
            "This membership is already suspended.".into(),
        ));
    }
    ensure_not_last_admin(
        &mut *conn,
        admin.society(),
        member,
        "This is the society's last admin, who cannot be suspended. Make someone else an admin first.",
    )
    .await?;
    sqlx::query!(
        "update memberships set status = 'suspended', decision_reason = $3, decided_by = $4, decided_at = now(), updated_at = now()
          where society_id = $1 and user_id = $2",
        admin.society() as SocietyId,
        member as UserId,
        reason,
        admin.user() as UserId,
    )
    .execute(&mut *conn)
    .await?;
    // A suspended member cannot come: their spots go to the next people waiting.
    crate::bookings::db::release_member(
        &mut *conn,
        admin.society(),
        member,
        admin.user(),
        chrono::Utc::now(),
    )
    .await?;
    record_change(
        conn,
        admin,
        member,
        (
            AuditAction::MembershipSuspended,
            NotificationKind::MembershipSuspended,
        ),
        serde_json::json!({ "reason": reason }),
    )
    .await
}

/// Society admins: lifts a suspension.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, member = %member.0))]
pub async fn reinstate(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    member: UserId,
) -> AppResult<()> {
    let (_, status) = lock_member(&mut *conn, admin, member).await?;
    if status != MembershipStatus::Suspended {
        return Err(AppError::Conflict(
            "This membership is not suspended.".into(),
        ));
    }
    sqlx::query!(
        "update memberships set status = 'approved', decision_reason = '', decided_by = $3, decided_at = now(), updated_at = now()
          where society_id = $1 and user_id = $2",
        admin.society() as SocietyId,
        member as UserId,
        admin.user() as UserId,
    )
    .execute(&mut *conn)
    .await?;
    record_change(
        conn,
        admin,
        member,
        (
            AuditAction::MembershipReinstated,
            NotificationKind::MembershipReinstated,
        ),
        serde_json::json!({}),
    )
    .await
}

/// Society admins: removes a member from the society (they may ask to join again). Not the
/// last admin.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, member = %member.0))]
pub async fn remove(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    member: UserId,
    reason: &str,
) -> AppResult<()> {
    let (role, _) = lock_member(&mut *conn, admin, member).await?;
    let reason = checked_text("reason", reason)?;
    ensure_not_last_admin(
        &mut *conn,
        admin.society(),
        member,
        "This is the society's last admin, who cannot be removed. Make someone else an admin first.",
    )
    .await?;
    crate::bookings::db::release_member(
        &mut *conn,
        admin.society(),
        member,
        admin.user(),
        chrono::Utc::now(),
    )
    .await?;
    sqlx::query!(
        "delete from memberships where society_id = $1 and user_id = $2",
        admin.society() as SocietyId,
        member as UserId,
    )
    .execute(&mut *conn)
    .await?;
    record_change(
        conn,
        admin,
        member,
        (
            AuditAction::MembershipRemoved,
            NotificationKind::MembershipRemoved,
        ),
        serde_json::json!({ "reason": reason, "role": role }),
    )
    .await
}
