//! Membership rows.

use sqlx::{PgConnection, PgPool};

use super::{Decision, JoinRequest, MembershipRole, MembershipStatus, MyMembership};
use crate::auth::UserId;
use crate::error::{AppError, AppResult};
use crate::societies::SocietyId;

/// The user's own memberships, by society name.
pub async fn list_for_user(pool: &PgPool, user: UserId) -> AppResult<Vec<MyMembership>> {
    let rows = sqlx::query_as!(
        MyMembership,
        r#"select s.id as "society_id: SocietyId", s.slug as society_slug, s.name as society_name,
                  m.role as "role: MembershipRole", m.status as "status: MembershipStatus",
                  m.decision_reason
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

fn checked_text(field: &str, text: &str) -> AppResult<String> {
    let text = text.trim();
    if text.chars().count() > super::MAX_TEXT_LEN {
        return Err(AppError::invalid(
            field,
            format!("Please keep this under {} characters.", super::MAX_TEXT_LEN),
        ));
    }
    Ok(text.to_string())
}

/// The caller's role in `society` if they are an approved member with at least `min` rights;
/// `Forbidden` otherwise (also for societies that do not exist: nothing leaks).
pub async fn require_role(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
    min: MembershipRole,
) -> AppResult<MembershipRole> {
    let role = sqlx::query_scalar!(
        r#"select role as "role: MembershipRole" from memberships
            where society_id = $1 and user_id = $2 and status = 'approved'"#,
        society as SocietyId,
        user as UserId,
    )
    .fetch_optional(conn)
    .await?;
    match role {
        Some(role) if rank(role) >= rank(min) => Ok(role),
        _ => Err(AppError::Forbidden),
    }
}

fn rank(role: MembershipRole) -> u8 {
    match role {
        MembershipRole::Member => 0,
        MembershipRole::Trainer => 1,
        MembershipRole::Admin => 2,
    }
}

/// Serialises changes to a society's set of admins (the last admin must stay).
async fn lock_society(conn: &mut PgConnection, society: SocietyId) -> AppResult<()> {
    sqlx::query_scalar!(
        "select id from societies where id = $1 for update",
        society as SocietyId
    )
    .fetch_optional(conn)
    .await?
    .map(|_| ())
    .ok_or(AppError::NotFound)
}

/// Why someone who already has a membership cannot ask again.
fn already(status: MembershipStatus) -> AppError {
    AppError::Conflict(
        match status {
            MembershipStatus::Pending => {
                "You have already asked to join. An admin will decide soon."
            }
            MembershipStatus::Approved => "You are already a member of this society.",
            MembershipStatus::Suspended => {
                "Your membership is suspended. Please contact the society's admins."
            }
            MembershipStatus::Rejected => "Your request was rejected.",
        }
        .into(),
    )
}

/// Any signed-in user: asks to join `society` with an optional message. Approved at once in an
/// open society; otherwise pending, and the society's admins are notified (outbox). Someone
/// rejected before may ask again. Returns the new status.
#[tracing::instrument(skip_all, fields(society = %society.0, user = %user.0))]
pub async fn request(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
    message: &str,
) -> AppResult<MembershipStatus> {
    let message = checked_text("message", message)?;
    let policy = sqlx::query_scalar!(
        "select join_policy from societies where id = $1",
        society as SocietyId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let status = if policy == "open" {
        MembershipStatus::Approved
    } else {
        MembershipStatus::Pending
    };
    let inserted = sqlx::query_scalar!(
        r#"insert into memberships (society_id, user_id, role, status, message) values ($1, $2, 'member', $3, $4)
           on conflict on constraint memberships_pkey do update
              set role = 'member', status = excluded.status, message = excluded.message, decision_reason = '',
                  decided_by = null, decided_at = null, updated_at = now()
            where memberships.status = 'rejected'
        returning status as "status: MembershipStatus""#,
        society as SocietyId,
        user as UserId,
        status as MembershipStatus,
        message,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(status) = inserted else {
        let existing = status_of(&mut *conn, society, user)
            .await?
            .ok_or(AppError::Internal)?;
        return Err(already(existing));
    };
    crate::audit::record(
        &mut *conn,
        Some(society),
        user,
        "membership.requested",
        Some(user.0.to_string()),
        serde_json::json!({ "status": status, "message": message }),
    )
    .await?;
    if status == MembershipStatus::Pending {
        crate::notifications::db::enqueue_for_admins(
            &mut *conn,
            society,
            "membership.requested",
            serde_json::json!({ "user_id": user, "message": message }),
        )
        .await?;
    }
    Ok(status)
}

/// The status of `user`'s membership in `society`, if any.
pub async fn status_of(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
) -> AppResult<Option<MembershipStatus>> {
    let status = sqlx::query_scalar!(
        r#"select status as "status: MembershipStatus" from memberships where society_id = $1 and user_id = $2"#,
        society as SocietyId,
        user as UserId,
    )
    .fetch_optional(conn)
    .await?;
    Ok(status)
}

/// The requester: withdraws their own pending request.
pub async fn withdraw(conn: &mut PgConnection, society: SocietyId, user: UserId) -> AppResult<()> {
    let deleted = sqlx::query!(
        "delete from memberships where society_id = $1 and user_id = $2 and status = 'pending'",
        society as SocietyId,
        user as UserId,
    )
    .execute(&mut *conn)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    crate::audit::record(
        &mut *conn,
        Some(society),
        user,
        "membership.withdrawn",
        Some(user.0.to_string()),
        serde_json::json!({}),
    )
    .await
}

/// A member: leaves `society`. The last admin cannot leave (the society always keeps one).
pub async fn leave(conn: &mut PgConnection, society: SocietyId, user: UserId) -> AppResult<()> {
    lock_society(&mut *conn, society).await?;
    let left = sqlx::query!(
        r#"delete from memberships m
            where m.society_id = $1 and m.user_id = $2 and m.status in ('approved', 'suspended')
              and (m.role <> 'admin' or exists (
                    select 1 from memberships o
                     where o.society_id = $1 and o.user_id <> $2 and o.role = 'admin' and o.status = 'approved'))
        returning m.role as "role: MembershipRole""#,
        society as SocietyId,
        user as UserId,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if left.is_none() {
        return match require_role(&mut *conn, society, user, MembershipRole::Admin).await {
            Ok(_) => Err(AppError::Conflict(
                "You are the society's last admin. Make someone else an admin before you leave."
                    .into(),
            )),
            Err(_) => Err(AppError::NotFound),
        };
    }
    crate::audit::record(
        &mut *conn,
        Some(society),
        user,
        "membership.left",
        Some(user.0.to_string()),
        serde_json::json!({}),
    )
    .await
}

/// Society admins: approves or rejects a pending request, with an optional reason shown to
/// the person. When two admins decide at once exactly one decision wins; the other gets a
/// `Conflict` saying what happened. The person is notified (outbox).
#[tracing::instrument(skip_all, fields(society = %society.0, member = %member.0, ?decision))]
pub async fn decide(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    decision: Decision,
    reason: &str,
) -> AppResult<MembershipStatus> {
    require_role(&mut *conn, society, actor, MembershipRole::Admin).await?;
    let reason = checked_text("reason", reason)?;
    let new_status = match decision {
        Decision::Approve => MembershipStatus::Approved,
        Decision::Reject => MembershipStatus::Rejected,
    };
    // The row lock of this conditional update makes concurrent decisions queue; the second
    // one finds the request no longer pending.
    let updated = sqlx::query!(
        "update memberships set status = $3, decision_reason = $4, decided_by = $5, decided_at = now(), updated_at = now()
          where society_id = $1 and user_id = $2 and status = 'pending'",
        society as SocietyId,
        member as UserId,
        new_status as MembershipStatus,
        reason,
        actor as UserId,
    )
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return match status_of(&mut *conn, society, member).await? {
            Some(MembershipStatus::Pending) | None => Err(AppError::NotFound),
            Some(status) => Err(AppError::Conflict(format!(
                "This request was already decided: the membership is {}.",
                status.label().to_lowercase()
            ))),
        };
    }
    let action = match decision {
        Decision::Approve => "membership.approved",
        Decision::Reject => "membership.rejected",
    };
    crate::audit::record(
        &mut *conn,
        Some(society),
        actor,
        action,
        Some(member.0.to_string()),
        serde_json::json!({ "reason": reason }),
    )
    .await?;
    crate::notifications::db::enqueue(
        &mut *conn,
        society,
        member,
        action,
        serde_json::json!({ "reason": reason }),
    )
    .await?;
    Ok(new_status)
}

/// Society admins: the pending requests to join, oldest first.
pub async fn list_pending(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
) -> AppResult<Vec<JoinRequest>> {
    require_role(&mut *conn, society, actor, MembershipRole::Admin).await?;
    let rows = sqlx::query_as!(
        JoinRequest,
        r#"select u.id as "user_id: UserId", u.name, u.email, m.message,
                  m.updated_at as "requested_at: chrono::DateTime<chrono::Utc>"
             from memberships m join users u on u.id = m.user_id
            where m.society_id = $1 and m.status = 'pending'
            order by m.updated_at, u.name"#,
        society as SocietyId,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows)
}
