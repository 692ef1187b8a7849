//! What admins (and the features above bookings) do to bookings: add or remove one with a
//! reason, refill after a capacity change, lift a ban, change the rules; and what happens when
//! someone leaves the society or a series gains sessions.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::member::{active_booking, announce_booked, enrol_one};
use super::{audit, insert_booking, lock_membership, lock_session, notify, refill, NewBooking};
use crate::access::{AdminReader, MembershipStatus, SocietyAdmin};
use crate::audit::AuditAction;
use crate::bookings::{
    checked_text, BanEntry, Booking, BookingRules, BookingStatus, Cancellation, MAX_REASON_LEN,
};
use crate::error::{AppError, AppResult};
use crate::ids::{BookingId, EnrolmentId, EventId, OccurrenceId, SocietyId, UserId};
use crate::notifications::NotificationKind;
use crate::wall::{local, Zone};

fn reason_given(reason: &str) -> AppResult<String> {
    let reason = checked_text("reason", reason, MAX_REASON_LEN)?;
    if reason.is_empty() {
        return Err(AppError::invalid(
            "reason",
            "Give a reason; the member will read it.",
        ));
    }
    Ok(reason)
}

/// Society admins: books `member` (an approved member) into the session with a reason: a
/// spot when there is room, the waitlist when it is full (capacity still holds). The booking
/// window, the limits and bans do not apply; a cancelled session cannot be booked.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, occurrence = %id.0))]
pub async fn add_for(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: OccurrenceId,
    member: UserId,
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<Booking> {
    let reason = reason_given(reason)?;
    if lock_membership(&mut *conn, admin.society(), member).await?
        != Some(MembershipStatus::Approved)
    {
        return Err(AppError::invalid(
            "user_id",
            "Only approved members of this society can be booked.",
        ));
    }
    let session = lock_session(&mut *conn, admin.society(), id).await?;
    session.refuse_cancelled()?;
    if active_booking(&mut *conn, id, member).await?.is_some() {
        return Err(AppError::Conflict(
            "This member already has a booking for this session.".into(),
        ));
    }
    let status = session.next_place();
    let (booking, position) = insert_booking(
        &mut *conn,
        &session,
        NewBooking {
            user: member,
            status,
            booked_by: Some(admin.user()),
            enrolment: None,
            walk_in: false,
            reason: reason.clone(),
        },
        now,
    )
    .await?;
    let extra = serde_json::json!({ "booking_id": booking.0, "waitlist_position": position, "reason": reason });
    audit(
        &mut *conn,
        &session,
        admin.user(),
        AuditAction::BookingAdded,
        member,
        extra,
    )
    .await?;
    announce_booked(conn, &session, admin.user(), member, booking, position).await?;
    Ok(Booking {
        id: booking,
        occurrence_id: id,
        status,
        waitlist_position: position,
    })
}

/// Society admins: removes a booking with a reason the member reads. Never a strike; a spot
/// that frees moves the next person up.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, booking = %id.0))]
pub async fn remove(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: BookingId,
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<Cancellation> {
    let reason = reason_given(reason)?;
    let row = sqlx::query!(
        r#"select user_id as "user_id: UserId", occurrence_id as "occurrence: OccurrenceId",
                  status as "status: BookingStatus"
             from bookings where id = $1 and society_id = $2"#,
        id as BookingId,
        admin.society() as SocietyId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    lock_membership(&mut *conn, admin.society(), row.user_id).await?;
    let session = lock_session(&mut *conn, admin.society(), row.occurrence).await?;
    let locked = sqlx::query_scalar!(
        r#"select status as "status: BookingStatus" from bookings where id = $1 for update"#,
        id as BookingId,
    )
    .fetch_one(&mut *conn)
    .await?;
    if !locked.is_active() {
        return Err(AppError::Conflict(
            "This booking is already cancelled.".into(),
        ));
    }
    sqlx::query!(
        "update bookings set status = 'cancelled', queue_number = null, cancelled_at = $2,
                attendance = null, attendance_at = null, attendance_by = null,
                cancelled_by = $3, reason = $4
          where id = $1",
        id as BookingId,
        now as DateTime<Utc>,
        admin.user() as UserId,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    let extra = serde_json::json!({ "booking_id": id.0, "reason": reason, "had_spot": locked == BookingStatus::Confirmed });
    audit(
        &mut *conn,
        &session,
        admin.user(),
        AuditAction::BookingRemoved,
        row.user_id,
        extra.clone(),
    )
    .await?;
    notify(
        &mut *conn,
        &session,
        row.user_id,
        NotificationKind::BookingCancelled,
        extra,
    )
    .await?;
    if locked == BookingStatus::Confirmed {
        refill(conn, &session, admin.user(), now).await?;
    }
    Ok(Cancellation {
        id,
        status: BookingStatus::Cancelled,
        late: false,
    })
}

/// Society admins, after changing the capacity of these sessions (already locked in the
/// transaction): people move up from the waitlists into spots a raise opened. Lowering never
/// removes anyone with a spot.
pub async fn after_capacity_change(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    ids: &[OccurrenceId],
    now: DateTime<Utc>,
) -> AppResult<u32> {
    let mut promoted = 0;
    for id in ids {
        let session = lock_session(&mut *conn, admin.society(), *id).await?;
        promoted += refill(&mut *conn, &session, admin.user(), now).await?.len() as u32;
    }
    Ok(promoted)
}

/// Society admins: lifts `member`'s current booking ban.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, member = %member.0))]
pub async fn lift_ban(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    member: UserId,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let ban = sqlx::query!(
        r#"update booking_bans set lifted_at = $3, lifted_by = $4
            where society_id = $1 and user_id = $2 and lifted_at is null and starts_at <= $3 and ends_at > $3
        returning ends_at as "ends_at: DateTime<Utc>", strikes"#,
        admin.society() as SocietyId,
        member as UserId,
        now as DateTime<Utc>,
        admin.user() as UserId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let details = serde_json::json!({ "was_until": ban.ends_at, "strikes": ban.strikes });
    crate::audit::record(
        &mut *conn,
        Some(admin.society()),
        admin.user(),
        AuditAction::BookingBanLifted,
        Some(member.0.to_string()),
        details.clone(),
    )
    .await?;
    crate::notifications::db::enqueue(
        conn,
        admin.society(),
        member,
        NotificationKind::BookingBanLifted,
        details,
    )
    .await
}

/// Society admins: the members who cannot book right now, and until when.
pub async fn bans(
    conn: &mut PgConnection,
    admin: &AdminReader,
    now: DateTime<Utc>,
) -> AppResult<Vec<BanEntry>> {
    let rows = sqlx::query!(
        r#"select b.user_id as "user_id: UserId", u.name, b.ends_at as "ends_at: DateTime<Utc>",
                  b.strikes, s.time_zone as "time_zone: Zone"
             from booking_bans b join users u on u.id = b.user_id join societies s on s.id = b.society_id
            where b.society_id = $1 and b.lifted_at is null and b.starts_at <= $2 and b.ends_at > $2
            order by b.ends_at, lower(u.name)"#,
        admin.society() as SocietyId,
        now as DateTime<Utc>,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let zone = r.time_zone.0;
            BanEntry {
                user_id: r.user_id,
                name: r.name,
                until_local: local(zone, r.ends_at),
                strikes: r.strikes,
            }
        })
        .collect())
}

/// Society admins: the society's fair-use rules, each within its range.
#[tracing::instrument(skip_all, fields(society = %admin.society().0))]
pub async fn update_rules(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    rules: BookingRules,
) -> AppResult<()> {
    let rules = rules.validated()?;
    let (old, _) = super::rules_and_zone(&mut *conn, admin.society()).await?;
    sqlx::query!(
        "update booking_rules set opens_days = $2, closes_minutes = $3, free_cancel_hours = $4,
                strike_limit = $5, strike_window_days = $6, ban_days = $7, max_active = $8,
                max_per_week = $9, first_reminder_hours = $10, second_reminder_hours = $11,
                updated_at = now()
          where society_id = $1",
        admin.society() as SocietyId,
        rules.opens_days,
        rules.closes_minutes,
        rules.free_cancel_hours,
        rules.strike_limit,
        rules.strike_window_days,
        rules.ban_days,
        rules.max_active,
        rules.max_per_week,
        rules.first_reminder_hours,
        rules.second_reminder_hours,
    )
    .execute(&mut *conn)
    .await?;
    let changes: serde_json::Map<String, serde_json::Value> = BookingRules::FIELDS
        .iter()
        .filter(|(name, ..)| old.get(name) != rules.get(name))
        .map(|(name, ..)| {
            (
                name.to_string(),
                serde_json::json!({ "from": old.get(name), "to": rules.get(name) }),
            )
        })
        .collect();
    crate::audit::record(
        conn,
        Some(admin.society()),
        admin.user(),
        AuditAction::BookingRulesChanged,
        None,
        serde_json::Value::Object(changes),
    )
    .await
}

/// For the members feature, with `member`'s membership row locked: `member` left `society` or
/// can no longer come (removed, suspended). Their enrolments end and their bookings for
/// sessions to come are cancelled by `actor` (never a strike); spots that free move the next
/// people up.
pub async fn release_member(
    conn: &mut PgConnection,
    society: SocietyId,
    member: UserId,
    actor: UserId,
    now: DateTime<Utc>,
) -> AppResult<u32> {
    let enrolments = sqlx::query_scalar!(
        r#"select id as "id: EnrolmentId" from enrolments
            where society_id = $1 and user_id = $2 and ended_at is null"#,
        society as SocietyId,
        member as UserId,
    )
    .fetch_all(&mut *conn)
    .await?;
    for enrolment in enrolments {
        sqlx::query!(
            "update enrolments set ended_at = $2 where id = $1",
            enrolment as EnrolmentId,
            now as DateTime<Utc>,
        )
        .execute(&mut *conn)
        .await?;
    }
    let coming = sqlx::query!(
        r#"select b.id as "id: BookingId", b.occurrence_id as "occurrence: OccurrenceId",
                  b.status as "status: BookingStatus"
             from bookings b join occurrences o on o.id = b.occurrence_id
            where b.society_id = $1 and b.user_id = $2 and b.status in ('confirmed', 'waitlisted')
              and o.starts_at > $3
            order by o.starts_at, o.id"#,
        society as SocietyId,
        member as UserId,
        now as DateTime<Utc>,
    )
    .fetch_all(&mut *conn)
    .await?;
    let count = coming.len() as u32;
    for booking in coming {
        let session = lock_session(&mut *conn, society, booking.occurrence).await?;
        sqlx::query!(
            "update bookings set status = 'cancelled', queue_number = null, cancelled_at = $2,
                attendance = null, attendance_at = null, attendance_by = null,
                    cancelled_by = $3, reason = 'No longer a member of the society.'
              where id = $1",
            booking.id as BookingId,
            now as DateTime<Utc>,
            actor as UserId,
        )
        .execute(&mut *conn)
        .await?;
        audit(
            &mut *conn,
            &session,
            actor,
            AuditAction::BookingRemoved,
            member,
            serde_json::json!({ "booking_id": booking.id.0, "reason": "no longer a member" }),
        )
        .await?;
        if booking.status == BookingStatus::Confirmed {
            refill(&mut *conn, &session, actor, now).await?;
        }
    }
    Ok(count)
}

/// For the events feature, when the series `event` gains these sessions (rows just made, in
/// this transaction): the members enrolled in it get their booking in each, oldest enrolment
/// first, up to each enrolment's last date.
pub async fn enrol_new_sessions(
    conn: &mut PgConnection,
    society: SocietyId,
    event: EventId,
    ids: &[OccurrenceId],
    now: DateTime<Utc>,
) -> AppResult<u32> {
    if ids.is_empty() {
        return Ok(0);
    }
    let pairs = sqlx::query!(
        r#"select n.id as "enrolment: EnrolmentId", n.user_id as "user_id: UserId",
                  o.id as "occurrence: OccurrenceId"
             from enrolments n
             join memberships m on m.society_id = n.society_id and m.user_id = n.user_id and m.status = 'approved'
             join occurrences o on o.id = any($2) and o.event_id = n.event_id
            where n.event_id = $1 and n.ended_at is null
              and (n.until_date is null or o.series_date <= n.until_date)
            order by o.starts_at, o.id, n.created_at, n.id"#,
        event as EventId,
        &ids.iter().map(|i| i.0).collect::<Vec<_>>(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut booked = 0;
    for pair in pairs {
        // Each booking changes the session's counts: load it again for the next.
        let session = lock_session(&mut *conn, society, pair.occurrence).await?;
        if enrol_one(&mut *conn, &session, pair.user_id, pair.enrolment, now)
            .await?
            .is_some()
        {
            booked += 1;
        }
    }
    Ok(booked)
}
