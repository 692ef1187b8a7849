//! Joining a society, leaving it, and the admins' approval queue.

use sqlx::{PgConnection, PgPool};

use super::management::{ensure_not_last_admin, lock_membership};
use super::{checked_text, record_change};
use crate::access::{AdminReader, MembershipRole, MembershipStatus, SocietyAdmin};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::ids::{SocietyId, UserId};
use crate::members::{BulkOutcome, Decision, JoinRequest, MyMembership};
use crate::notifications::NotificationKind;
use crate::societies::JoinPolicy;

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

/// The signed-in user's membership in one society, if any.
pub async fn find_for_user(
    pool: &PgPool,
    society: SocietyId,
    user: UserId,
) -> AppResult<Option<MyMembership>> {
    let row = sqlx::query_as!(
        MyMembership,
        r#"select s.id as "society_id: SocietyId", s.slug as society_slug, s.name as society_name,
                  m.role as "role: MembershipRole", m.status as "status: MembershipStatus",
                  m.decision_reason
             from memberships m join societies s on s.id = m.society_id
            where m.society_id = $1 and m.user_id = $2"#,
        society as SocietyId,
        user as UserId,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row)
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
    refuse_request_loops(&mut *conn, society, user).await?;
    let policy = sqlx::query_scalar!(
        r#"select join_policy as "join_policy: JoinPolicy" from societies where id = $1"#,
        society as SocietyId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let status = if policy == JoinPolicy::Open {
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
        AuditAction::MembershipRequested,
        Some(user.0.to_string()),
        serde_json::json!({ "status": status, "message": message }),
    )
    .await?;
    if status == MembershipStatus::Pending {
        let name = sqlx::query_scalar!("select name from users where id = $1", user as UserId)
            .fetch_one(&mut *conn)
            .await?;
        crate::notifications::db::enqueue_for_admins(
            &mut *conn,
            society,
            NotificationKind::MembershipRequested,
            serde_json::json!({ "user_id": user, "message": message, "name": name }),
        )
        .await?;
    }
    Ok(status)
}

/// A person may ask to join one society this many times a day (asking, withdrawing and asking
/// again would otherwise fill the admins' inboxes).
pub const JOIN_REQUESTS_PER_DAY: i64 = 3;

/// Refuses a request past `JOIN_REQUESTS_PER_DAY` in the last 24 hours, saying when the next one
/// is possible (`RateLimited`). Counted from the audit log, so it holds across servers.
async fn refuse_request_loops(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
) -> AppResult<()> {
    let recent = sqlx::query!(
        r#"select count(*) as "n!", min(created_at) as "oldest: chrono::DateTime<chrono::Utc>"
             from audit_log
            where society_id = $1 and actor_id = $2 and action = $3
              and created_at > now() - interval '24 hours'"#,
        society as SocietyId,
        user as UserId,
        AuditAction::MembershipRequested as AuditAction,
    )
    .fetch_one(conn)
    .await?;
    if recent.n < JOIN_REQUESTS_PER_DAY {
        return Ok(());
    }
    let free_at = recent.oldest.unwrap_or_else(chrono::Utc::now) + chrono::Duration::hours(24);
    let wait = (free_at - chrono::Utc::now()).num_seconds().max(1);
    Err(AppError::rate_limited(wait as u32))
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
        AuditAction::MembershipWithdrawn,
        Some(user.0.to_string()),
        serde_json::json!({}),
    )
    .await
}

/// A member: leaves `society`. The last admin cannot leave (the society always keeps one).
pub async fn leave(conn: &mut PgConnection, society: SocietyId, user: UserId) -> AppResult<()> {
    crate::access::lock_society(&mut *conn, society).await?;
    match lock_membership(&mut *conn, society, user).await? {
        Some((_, MembershipStatus::Approved | MembershipStatus::Suspended)) => {}
        _ => return Err(AppError::NotFound),
    }
    ensure_not_last_admin(
        &mut *conn,
        society,
        user,
        "You are the society's last admin. Make someone else an admin before you leave.",
    )
    .await?;
    crate::bookings::db::release_member(&mut *conn, society, user, user, chrono::Utc::now())
        .await?;
    sqlx::query!(
        "delete from memberships where society_id = $1 and user_id = $2",
        society as SocietyId,
        user as UserId,
    )
    .execute(&mut *conn)
    .await?;
    crate::audit::record(
        &mut *conn,
        Some(society),
        user,
        AuditAction::MembershipLeft,
        Some(user.0.to_string()),
        serde_json::json!({}),
    )
    .await
}

/// Decides one pending request; `false` when it is no longer pending (or never was).
async fn decide_one(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    member: UserId,
    decision: Decision,
    reason: &str,
) -> AppResult<bool> {
    let (new_status, action, kind) = match decision {
        Decision::Approve => (
            MembershipStatus::Approved,
            AuditAction::MembershipApproved,
            NotificationKind::MembershipApproved,
        ),
        Decision::Reject => (
            MembershipStatus::Rejected,
            AuditAction::MembershipRejected,
            NotificationKind::MembershipRejected,
        ),
    };
    // The row lock of this conditional update makes concurrent decisions queue; the second
    // one finds the request no longer pending.
    let updated = sqlx::query!(
        "update memberships set status = $3, decision_reason = $4, decided_by = $5, decided_at = now(), updated_at = now()
          where society_id = $1 and user_id = $2 and status = 'pending'",
        admin.society() as SocietyId,
        member as UserId,
        new_status as MembershipStatus,
        reason,
        admin.user() as UserId,
    )
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    record_change(
        &mut *conn,
        admin,
        member,
        (action, kind),
        serde_json::json!({ "reason": reason }),
    )
    .await?;
    Ok(true)
}

/// Society admins: approves or rejects a pending request, with an optional reason shown to
/// the person. When two admins decide at once exactly one decision wins; the other gets a
/// `Conflict` saying what happened. The person is notified (outbox).
#[tracing::instrument(skip_all, fields(society = %admin.society().0, member = %member.0, ?decision))]
pub async fn decide(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    member: UserId,
    decision: Decision,
    reason: &str,
) -> AppResult<MembershipStatus> {
    let reason = checked_text("reason", reason)?;
    if decide_one(&mut *conn, admin, member, decision, &reason).await? {
        return Ok(match decision {
            Decision::Approve => MembershipStatus::Approved,
            Decision::Reject => MembershipStatus::Rejected,
        });
    }
    match status_of(&mut *conn, admin.society(), member).await? {
        Some(MembershipStatus::Pending) | None => Err(AppError::NotFound),
        Some(status) => Err(AppError::Conflict(format!(
            "This request was already decided: the membership is {}.",
            status.label().to_lowercase()
        ))),
    }
}

/// Society admins: approves or rejects many pending requests at once with one reason.
/// Requests another admin decided meanwhile (or unknown ids) are skipped and counted.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, count = members.len(), ?decision))]
pub async fn decide_many(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    members: &[UserId],
    decision: Decision,
    reason: &str,
) -> AppResult<BulkOutcome> {
    let reason = checked_text("reason", reason)?;
    if members.is_empty() {
        return Err(AppError::invalid(
            "members",
            "Choose at least one request first.",
        ));
    }
    if members.len() > crate::members::MAX_BULK {
        return Err(AppError::invalid(
            "members",
            format!(
                "Choose at most {} requests at a time.",
                crate::members::MAX_BULK
            ),
        ));
    }
    // One order for every caller, so two admins deciding overlapping sets cannot deadlock.
    let mut members = members.to_vec();
    members.sort_by_key(|m| m.0);
    members.dedup();
    let mut outcome = BulkOutcome::default();
    for member in members {
        if decide_one(&mut *conn, admin, member, decision, &reason).await? {
            outcome.decided += 1;
        } else {
            outcome.skipped += 1;
        }
    }
    Ok(outcome)
}

/// Society admins: the pending requests to join, oldest first.
pub async fn list_pending(
    conn: &mut PgConnection,
    admin: &AdminReader,
) -> AppResult<Vec<JoinRequest>> {
    let rows = sqlx::query_as!(
        JoinRequest,
        r#"select u.id as "user_id: UserId", u.name, u.email, m.message,
                  m.updated_at as "requested_at: chrono::DateTime<chrono::Utc>"
             from memberships m join users u on u.id = m.user_id
            where m.society_id = $1 and m.status = 'pending'
            order by m.updated_at, u.name"#,
        admin.society() as SocietyId,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows)
}
