//! Membership rows.

use sqlx::{PgConnection, PgPool};

use super::{
    BulkOutcome, Decision, DirectoryEntry, DirectoryPage, DirectoryQuery, JoinRequest,
    MembershipRole, MembershipStatus, MyMembership,
};
use crate::auth::UserId;
use crate::error::{AppError, AppResult};
use crate::societies::{JoinPolicy, SocietyId};

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

/// Serialises admin actions in a society (so the last admin stays, and a demoted admin's
/// waiting action sees the demotion). `no key update` still lets inserts that reference the
/// society (audit rows, memberships) go ahead, so the lock order is always: society, then
/// membership rows.
pub(crate) async fn lock_society(conn: &mut PgConnection, society: SocietyId) -> AppResult<()> {
    sqlx::query_scalar!(
        "select id from societies where id = $1 for no key update",
        society as SocietyId
    )
    .fetch_optional(conn)
    .await?
    .map(|_| ())
    .ok_or(AppError::NotFound)
}

/// Every admin action starts here: locks the society, then checks that `actor` is (still)
/// one of its approved admins.
pub(crate) async fn lock_as_admin(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
) -> AppResult<()> {
    // An unknown society is `Forbidden` like any other society the caller does not run.
    match lock_society(&mut *conn, society).await {
        Ok(()) | Err(AppError::NotFound) => {}
        Err(e) => return Err(e),
    }
    require_role(&mut *conn, society, actor, MembershipRole::Admin).await?;
    Ok(())
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

/// With the society locked (`lock_society`): refuses with `message` when `member` is the
/// society's only approved admin. Every way of losing admin rights (leave, demote, suspend,
/// remove) goes through here, so a society always keeps one admin.
async fn ensure_not_last_admin(
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
async fn lock_membership(
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

/// A member: leaves `society`. The last admin cannot leave (the society always keeps one).
pub async fn leave(conn: &mut PgConnection, society: SocietyId, user: UserId) -> AppResult<()> {
    lock_society(&mut *conn, society).await?;
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
        "membership.left",
        Some(user.0.to_string()),
        serde_json::json!({}),
    )
    .await
}

/// Decides one pending request; `false` when it is no longer pending (or never was).
async fn decide_one(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    decision: Decision,
    reason: &str,
) -> AppResult<bool> {
    let (new_status, action) = match decision {
        Decision::Approve => (MembershipStatus::Approved, "membership.approved"),
        Decision::Reject => (MembershipStatus::Rejected, "membership.rejected"),
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
        return Ok(false);
    }
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
    Ok(true)
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
    lock_as_admin(&mut *conn, society, actor).await?;
    let reason = checked_text("reason", reason)?;
    if decide_one(&mut *conn, society, actor, member, decision, &reason).await? {
        return Ok(match decision {
            Decision::Approve => MembershipStatus::Approved,
            Decision::Reject => MembershipStatus::Rejected,
        });
    }
    match status_of(&mut *conn, society, member).await? {
        Some(MembershipStatus::Pending) | None => Err(AppError::NotFound),
        Some(status) => Err(AppError::Conflict(format!(
            "This request was already decided: the membership is {}.",
            status.label().to_lowercase()
        ))),
    }
}

/// Society admins: approves or rejects many pending requests at once with one reason.
/// Requests another admin decided meanwhile (or unknown ids) are skipped and counted.
#[tracing::instrument(skip_all, fields(society = %society.0, count = members.len(), ?decision))]
pub async fn decide_many(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    members: &[UserId],
    decision: Decision,
    reason: &str,
) -> AppResult<BulkOutcome> {
    lock_as_admin(&mut *conn, society, actor).await?;
    let reason = checked_text("reason", reason)?;
    if members.is_empty() {
        return Err(AppError::invalid(
            "members",
            "Choose at least one request first.",
        ));
    }
    if members.len() > super::MAX_BULK {
        return Err(AppError::invalid(
            "members",
            format!("Choose at most {} requests at a time.", super::MAX_BULK),
        ));
    }
    // One order for every caller, so two admins deciding overlapping sets cannot deadlock.
    let mut members = members.to_vec();
    members.sort_by_key(|m| m.0);
    members.dedup();
    let mut outcome = BulkOutcome::default();
    for member in members {
        if decide_one(&mut *conn, society, actor, member, decision, &reason).await? {
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

/// Anyone signed in: `user`'s role in `society` if they are an approved member, and for
/// admins how many requests wait; one round trip for the navigation of every society page.
pub async fn standing(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
) -> AppResult<(Option<MembershipRole>, Option<i64>)> {
    let row = sqlx::query!(
        r#"select m.role as "role: MembershipRole",
                  case when m.role = 'admin' then
                      (select count(*) from memberships p where p.society_id = $1 and p.status = 'pending')
                  end as pending
             from memberships m
            where m.society_id = $1 and m.user_id = $2 and m.status = 'approved'"#,
        society as SocietyId,
        user as UserId,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or((None, None), |r| (Some(r.role), r.pending)))
}

/// Society admins: how many requests to join are waiting.
pub async fn pending_count(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
) -> AppResult<i64> {
    require_role(&mut *conn, society, actor, MembershipRole::Admin).await?;
    let count = sqlx::query_scalar!(
        r#"select count(*) as "count!" from memberships where society_id = $1 and status = 'pending'"#,
        society as SocietyId,
    )
    .fetch_one(conn)
    .await?;
    Ok(count)
}

/// Records a change an admin made to `member`'s membership and tells the member.
async fn record_change(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    action: &str,
    details: serde_json::Value,
) -> AppResult<()> {
    crate::audit::record(
        &mut *conn,
        Some(society),
        actor,
        action,
        Some(member.0.to_string()),
        details.clone(),
    )
    .await?;
    crate::notifications::db::enqueue(&mut *conn, society, member, action, details).await
}

/// The approved or suspended membership an admin is about to change, locked together with
/// the society (so the last-admin rule holds); `NotFound` for anyone else.
async fn lock_member(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
) -> AppResult<(MembershipRole, MembershipStatus)> {
    lock_as_admin(&mut *conn, society, actor).await?;
    match lock_membership(&mut *conn, society, member).await? {
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
#[tracing::instrument(skip_all, fields(society = %society.0, member = %member.0, ?role))]
pub async fn set_role(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    role: MembershipRole,
) -> AppResult<()> {
    let (old, _) = lock_member(&mut *conn, society, actor, member).await?;
    if old == role {
        return Ok(());
    }
    ensure_not_last_admin(
        &mut *conn,
        society,
        member,
        "This is the society's last admin. Make someone else an admin first.",
    )
    .await?;
    sqlx::query!(
        "update memberships set role = $3, updated_at = now() where society_id = $1 and user_id = $2",
        society as SocietyId,
        member as UserId,
        role as MembershipRole,
    )
    .execute(&mut *conn)
    .await?;
    record_change(
        conn,
        society,
        actor,
        member,
        "membership.role_changed",
        serde_json::json!({ "from": old, "to": role }),
    )
    .await
}

/// Society admins: suspends an approved member, with a reason shown to them. A suspended
/// member keeps their history but may do nothing as a member. Not the last admin.
#[tracing::instrument(skip_all, fields(society = %society.0, member = %member.0))]
pub async fn suspend(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    reason: &str,
) -> AppResult<()> {
    let (_, status) = lock_member(&mut *conn, society, actor, member).await?;
    let reason = checked_text("reason", reason)?;
    if status == MembershipStatus::Suspended {
        return Err(AppError::Conflict(
            "This membership is already suspended.".into(),
        ));
    }
    ensure_not_last_admin(
        &mut *conn,
        society,
        member,
        "This is the society's last admin, who cannot be suspended. Make someone else an admin first.",
    )
    .await?;
    sqlx::query!(
        "update memberships set status = 'suspended', decision_reason = $3, decided_by = $4, decided_at = now(), updated_at = now()
          where society_id = $1 and user_id = $2",
        society as SocietyId,
        member as UserId,
        reason,
        actor as UserId,
    )
    .execute(&mut *conn)
    .await?;
    record_change(
        conn,
        society,
        actor,
        member,
        "membership.suspended",
        serde_json::json!({ "reason": reason }),
    )
    .await
}

/// Society admins: lifts a suspension.
#[tracing::instrument(skip_all, fields(society = %society.0, member = %member.0))]
pub async fn reinstate(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
) -> AppResult<()> {
    let (_, status) = lock_member(&mut *conn, society, actor, member).await?;
    if status != MembershipStatus::Suspended {
        return Err(AppError::Conflict(
            "This membership is not suspended.".into(),
        ));
    }
    sqlx::query!(
        "update memberships set status = 'approved', decision_reason = '', decided_by = $3, decided_at = now(), updated_at = now()
          where society_id = $1 and user_id = $2",
        society as SocietyId,
        member as UserId,
        actor as UserId,
    )
    .execute(&mut *conn)
    .await?;
    record_change(
        conn,
        society,
        actor,
        member,
        "membership.reinstated",
        serde_json::json!({}),
    )
    .await
}

/// Society admins: removes a member from the society (they may ask to join again). Not the
/// last admin.
#[tracing::instrument(skip_all, fields(society = %society.0, member = %member.0))]
pub async fn remove(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    reason: &str,
) -> AppResult<()> {
    let (role, _) = lock_member(&mut *conn, society, actor, member).await?;
    let reason = checked_text("reason", reason)?;
    ensure_not_last_admin(
        &mut *conn,
        society,
        member,
        "This is the society's last admin, who cannot be removed. Make someone else an admin first.",
    )
    .await?;
    sqlx::query!(
        "delete from memberships where society_id = $1 and user_id = $2",
        society as SocietyId,
        member as UserId,
    )
    .execute(&mut *conn)
    .await?;
    record_change(
        conn,
        society,
        actor,
        member,
        "membership.removed",
        serde_json::json!({ "reason": reason, "role": role }),
    )
    .await
}

/// `%`, `_` and `\` match themselves in a LIKE pattern built from `text`.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Admins and trainers: one page of the society's member directory, by name. Admins see
/// everyone with email and status and may search by email; trainers see approved members'
/// names and roles only.
#[tracing::instrument(skip_all, fields(society = %society.0))]
pub async fn directory(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    query: &DirectoryQuery,
) -> AppResult<DirectoryPage> {
    let caller = require_role(&mut *conn, society, actor, MembershipRole::Trainer).await?;
    let full = caller == MembershipRole::Admin;
    let search = query.q.trim().to_lowercase();
    if search.chars().count() > super::MAX_SEARCH_LEN {
        return Err(AppError::invalid(
            "q",
            format!(
                "Please search with at most {} characters.",
                super::MAX_SEARCH_LEN
            ),
        ));
    }
    let pattern = format!("%{}%", escape_like(&search));
    let status = if full {
        query.status
    } else {
        Some(MembershipStatus::Approved)
    };
    let page = query.page.clamp(1, 100_000);
    let per_page = super::DIRECTORY_PAGE_SIZE;
    let wanted = i64::from(page - 1) * i64::from(per_page);
    let mut offset = wanted;
    let (rows, total) = loop {
        let rows = sqlx::query!(
            r#"select u.id as "user_id: UserId", u.name, u.email,
                      m.role as "role: MembershipRole", m.status as "status: MembershipStatus",
                      coalesce(m.decided_at, m.created_at) as "since!: chrono::DateTime<chrono::Utc>",
                      count(*) over () as "total!"
                 from memberships m join users u on u.id = m.user_id
                where m.society_id = $1
                  and ($2::membership_role is null or m.role = $2)
                  and ($3::membership_status is null or m.status = $3)
                  and ($4 = '' or lower(u.name) like $5 or ($6 and lower(u.email) like $5))
                order by lower(u.name), u.id
                limit $7 offset $8"#,
            society as SocietyId,
            query.role as Option<MembershipRole>,
            status as Option<MembershipStatus>,
            search,
            pattern,
            full,
            i64::from(per_page),
            offset,
        )
        .fetch_all(&mut *conn)
        .await?;
        match rows.first().map(|r| r.total) {
            Some(total) if offset == wanted => break (rows, total),
            Some(total) => break (Vec::new(), total),
            // Past the last page: the first page tells the total, so the pager can lead back.
            None if offset > 0 => offset = 0,
            None => break (rows, 0),
        }
    };
    let entries = rows
        .into_iter()
        .map(|r| DirectoryEntry {
            user_id: r.user_id,
            name: r.name,
            role: r.role,
            email: full.then_some(r.email),
            status: full.then_some(r.status),
            since: full.then_some(r.since),
        })
        .collect();
    Ok(DirectoryPage {
        entries,
        total,
        page,
        per_page,
        full,
    })
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
