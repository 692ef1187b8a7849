//! The trainer's roster of a session: who is coming, who waits, attendance, walk-ins, notes.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

use super::{
    audit, insert_booking, lock_membership, lock_session, notify, record_strike, NewBooking,
    StrikeReason,
};
use crate::access::{MembershipStatus, SocietyStaff};
use crate::audit::AuditAction;
use crate::bookings::{
    checked_text, Attendance, BookingStatus, Roster, RosterEntry, ATTENDANCE_OPENS_MINUTES,
    MAX_NOTE_LEN,
};
use crate::error::{AppError, AppResult};
use crate::ids::{BookingId, OccurrenceId, SocietyId, UserId};
use crate::notifications::NotificationKind;
use crate::wall::{local, Zone};

/// Proof that `user` keeps the roster of `occurrence`: one of its trainers, or an admin of
/// its society. Only `roster_keeper` makes one.
#[derive(Debug)]
pub struct RosterKeeper {
    society: SocietyId,
    occurrence: OccurrenceId,
    user: UserId,
    admin: bool,
}

impl RosterKeeper {
    pub fn society(&self) -> SocietyId {
        self.society
    }
    pub fn occurrence(&self) -> OccurrenceId {
        self.occurrence
    }
    pub fn user(&self) -> UserId {
        self.user
    }
    /// A society admin (not only a trainer of the session): sees members' email addresses.
    pub fn is_admin(&self) -> bool {
        self.admin
    }
}

/// The trainers of a session and the admins of its society keep its roster; `Forbidden` for
/// everyone else, `NotFound` for a session of another society.
pub async fn roster_keeper(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
    occurrence: OccurrenceId,
) -> AppResult<RosterKeeper> {
    let staff = crate::access::require_staff(&mut *conn, society, user).await?;
    keeper_among(conn, &staff, occurrence).await
}

/// `roster_keeper` for a caller already proven staff of the society (by the request's first
/// read, say): an admin, or a trainer of this session.
pub async fn keeper_among(
    conn: &mut PgConnection,
    staff: &SocietyStaff,
    occurrence: OccurrenceId,
) -> AppResult<RosterKeeper> {
    let (society, user) = (staff.society(), staff.user());
    let row = sqlx::query!(
        r#"select exists (select 1 from occurrence_trainers where occurrence_id = o.id and trainer_id = $3)
                  as "teaches!"
             from occurrences o where o.id = $1 and o.society_id = $2"#,
        occurrence as OccurrenceId,
        society as SocietyId,
        user as UserId,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if !row.teaches && !staff.is_admin() {
        return Err(AppError::Forbidden);
    }
    Ok(RosterKeeper {
        society,
        occurrence,
        user,
        admin: staff.is_admin(),
    })
}

/// The session's roster: confirmed (walk-ins last), the waitlist in order with positions, and
/// who said they will not come.
pub async fn roster(
    conn: &mut PgConnection,
    keeper: &RosterKeeper,
    now: DateTime<Utc>,
) -> AppResult<Roster> {
    // One statement: the session's head on every line, then its people (none: one line).
    let rows = sqlx::query!(
        r#"select e.title, o.starts_at as "starts_at: DateTime<Utc>", o.ends_at as "ends_at: DateTime<Utc>",
                  o.capacity, o.status = 'cancelled' as "cancelled!", s.time_zone as "time_zone: Zone",
                  p.id as "id?: BookingId", p.user_id as "user_id?: UserId", p.name as "name?",
                  p.status as "status?: BookingStatus", p.walk_in as "walk_in?", p.enrolled as "enrolled?",
                  p.attendance as "attendance?: Attendance", p.note as "note?",
                  p.created_at as "created_at?: DateTime<Utc>", p.position as "position?"
             from occurrences o
             join events e on e.id = o.event_id
             join societies s on s.id = o.society_id
             left join lateral (
                  select b.id, b.user_id, u.name, b.status, b.walk_in, b.enrolment_id is not null as enrolled,
                         b.attendance, b.note, b.created_at, b.queue_number,
                         case when b.status = 'waitlisted'
                              then row_number() over (partition by b.status = 'waitlisted' order by b.queue_number) end
                             as position
                    from bookings b join users u on u.id = b.user_id
                   where b.occurrence_id = o.id and b.status <> 'cancelled') p on true
            where o.id = $1 and o.society_id = $2
            order by p.status, p.walk_in, p.queue_number, lower(p.name), p.id"#,
        keeper.occurrence as OccurrenceId,
        keeper.society as SocietyId,
    )
    .fetch_all(&mut *conn)
    .await?;
    let head = rows.first().ok_or(AppError::NotFound)?;
    let zone = head.time_zone.0;
    let mut roster = Roster {
        occurrence_id: keeper.occurrence,
        title: head.title.clone(),
        starts_local: local(zone, head.starts_at),
        ends_local: local(zone, head.ends_at),
        capacity: head.capacity,
        confirmed: Vec::new(),
        waitlist: Vec::new(),
        excused: Vec::new(),
        attendance_open: !head.cancelled
            && now >= head.starts_at - Duration::minutes(ATTENDANCE_OPENS_MINUTES),
    };
    for r in rows {
        let (Some(booking_id), Some(user_id), Some(name), Some(status), Some(created_at)) =
            (r.id, r.user_id, r.name, r.status, r.created_at)
        else {
            continue;
        };
        let entry = RosterEntry {
            booking_id,
            user_id,
            name,
            status,
            waitlist_position: r.position,
            walk_in: r.walk_in.unwrap_or(false),
            enrolled: r.enrolled.unwrap_or(false),
            attendance: r.attendance,
            note: r.note.unwrap_or_default(),
            booked_at: created_at,
        };
        match entry.status {
            BookingStatus::Confirmed => roster.confirmed.push(entry),
            BookingStatus::Waitlisted => roster.waitlist.push(entry),
            _ => roster.excused.push(entry),
        }
    }
    Ok(roster)
}

/// Refuses attendance for a cancelled session or earlier than an hour before it starts.
fn check_attendance_open(session: &super::Session, now: DateTime<Utc>) -> AppResult<()> {
    if session.cancelled {
        return Err(AppError::Conflict(
            "This session is cancelled; there is no attendance to take.".into(),
        ));
    }
    if now < session.starts_at - Duration::minutes(ATTENDANCE_OPENS_MINUTES) {
        return Err(AppError::Conflict(format!(
            "Attendance can be taken from {ATTENDANCE_OPENS_MINUTES} minutes before the session starts."
        )));
    }
    Ok(())
}

/// What the person marking attendance saw before their change (a roster kept offline): when
/// someone else has marked the member differently since, their mark stands and this change is
/// refused, saying who marked what and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen(pub Option<Attendance>);

/// The roster's keeper: records `member`'s attendance (or clears it with `None`). A no-show
/// (`Absent`) is a strike; changing it to anything else takes that strike back. With `seen`,
/// a different mark made meanwhile wins (`Conflict`); the same change again is no change.
#[tracing::instrument(skip_all, fields(occurrence = %keeper.occurrence.0, member = %member.0))]
pub async fn mark_attendance(
    conn: &mut PgConnection,
    keeper: &RosterKeeper,
    member: UserId,
    state: Option<Attendance>,
    seen: Option<Seen>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    lock_membership(&mut *conn, keeper.society, member).await?;
    let session = lock_session(&mut *conn, keeper.society, keeper.occurrence).await?;
    check_attendance_open(&session, now)?;
    let row = sqlx::query!(
        r#"select b.id as "id: BookingId", b.attendance as "attendance: Attendance",
                  b.attendance_at as "attendance_at: DateTime<Utc>", b.attendance_by as "attendance_by: UserId",
                  coalesce(marker.name, '') as "marked_by!", u.name as "member_name"
             from bookings b join users u on u.id = b.user_id left join users marker on marker.id = b.attendance_by
            where b.occurrence_id = $1 and b.user_id = $2 and b.status = 'confirmed' for update of b"#,
        keeper.occurrence as OccurrenceId,
        member as UserId,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Err(no_spot(&mut *conn, keeper.occurrence, member).await);
    };
    if row.attendance == state {
        return Ok(());
    }
    if let Some(Seen(seen)) = seen {
        if row.attendance != seen && row.attendance_by != Some(keeper.user) {
            let when = row
                .attendance_at
                .map(|at| local(session.zone, at).format(" at %H:%M").to_string())
                .unwrap_or_default();
            let what = row.attendance.map_or("unmarked", |a| a.as_str());
            let mine = state.map_or("unmarked", |a| a.as_str());
            return Err(AppError::Conflict(format!(
                "{} marked {} {what}{when}; your change ({mine}) was not applied.",
                if row.marked_by.is_empty() {
                    "Someone else"
                } else {
                    &row.marked_by
                },
                row.member_name,
            )));
        }
    }
    sqlx::query!(
        "update bookings set attendance = $2, attendance_at = $3, attendance_by = $4 where id = $1",
        row.id as BookingId,
        state as Option<Attendance>,
        now as DateTime<Utc>,
        keeper.user as UserId,
    )
    .execute(&mut *conn)
    .await?;
    let extra = serde_json::json!({
        "booking_id": row.id.0,
        "attendance": state.map(Attendance::as_str),
        "was": row.attendance.map(Attendance::as_str),
    });
    audit(
        &mut *conn,
        &session,
        keeper.user,
        AuditAction::AttendanceMarked,
        member,
        extra.clone(),
    )
    .await?;
    notify(
        &mut *conn,
        &session,
        member,
        NotificationKind::AttendanceMarked,
        extra,
    )
    .await?;
    if state == Some(Attendance::Absent) {
        record_strike(
            conn,
            &session,
            keeper.user,
            member,
            row.id,
            StrikeReason::NoShow,
            now,
        )
        .await?;
    } else if row.attendance == Some(Attendance::Absent) {
        sqlx::query!(
            "delete from strikes where booking_id = $1 and reason = 'no_show'",
            row.id as BookingId,
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Why `member` has no attendance to mark in `occurrence`: they cancelled (or were removed),
/// or never had a spot.
async fn no_spot(conn: &mut PgConnection, occurrence: OccurrenceId, member: UserId) -> AppError {
    let gone = sqlx::query!(
        r#"select u.name from bookings b join users u on u.id = b.user_id
            where b.occurrence_id = $1 and b.user_id = $2 and b.status in ('cancelled', 'excused')
            order by b.cancelled_at desc nulls last limit 1"#,
        occurrence as OccurrenceId,
        member as UserId,
    )
    .fetch_optional(conn)
    .await;
    match gone {
        Ok(Some(row)) => AppError::Conflict(format!(
            "{} cancelled their booking; add them as a walk-in if they came.",
            row.name
        )),
        Ok(None) => AppError::Conflict(
            "Only people with a spot have attendance; add them as a walk-in first.".into(),
        ),
        Err(e) => e.into(),
    }
}

/// The approved member of `society` that `who` names: their email address, or their name
/// when only one member has it. Refuses (naming the field) anything else.
pub async fn find_member(
    conn: &mut PgConnection,
    society: SocietyId,
    who: &str,
) -> AppResult<(UserId, String)> {
    let who = who.trim();
    if who.is_empty() {
        return Err(AppError::invalid(
            "who",
            "Enter the member's name or email.",
        ));
    }
    let rows = sqlx::query!(
        r#"select u.id as "id: UserId", u.name, lower(u.email) = lower($2) as "by_email!"
             from memberships m join users u on u.id = m.user_id
            where m.society_id = $1 and m.status = 'approved'
              and (lower(u.email) = lower($2) or lower(u.name) = lower($2))
            order by 3 desc
            limit 3"#,
        society as SocietyId,
        who,
    )
    .fetch_all(conn)
    .await?;
    match (rows.iter().find(|r| r.by_email), rows.as_slice()) {
        (Some(r), _) | (None, [r]) => Ok((r.id, r.name.clone())),
        (None, []) => Err(AppError::invalid(
            "who",
            "No approved member of this society has that name or email.",
        )),
        (None, _) => Err(AppError::invalid(
            "who",
            "Several members have that name; enter their email instead.",
        )),
    }
}

/// The roster's keeper: adds an approved member who came without a spot (`who`: their
/// email or name), even when the session is full; they show as a walk-in, present. Someone on
/// the waitlist leaves it for this.
#[tracing::instrument(skip_all, fields(occurrence = %keeper.occurrence.0))]
pub async fn add_walk_in(
    conn: &mut PgConnection,
    keeper: &RosterKeeper,
    who: &str,
    now: DateTime<Utc>,
) -> AppResult<UserId> {
    let (member, name) = find_member(&mut *conn, keeper.society, who).await?;
    if lock_membership(&mut *conn, keeper.society, member).await?
        != Some(MembershipStatus::Approved)
    {
        return Err(AppError::invalid(
            "who",
            "Only approved members can join a session.",
        ));
    }
    let session = lock_session(&mut *conn, keeper.society, keeper.occurrence).await?;
    check_attendance_open(&session, now)?;
    let booking = match super::member::active_booking(&mut *conn, session.id, member).await? {
        Some((_, BookingStatus::Confirmed, _)) => {
            return Err(AppError::Conflict(format!("{name} already has a spot.")));
        }
        Some((id, _, _)) => {
            sqlx::query!(
                "update bookings set status = 'confirmed', walk_in = true, queue_number = null,
                        confirmed_at = $2, attendance = 'present', attendance_at = $2, attendance_by = $3
                  where id = $1",
                id as BookingId,
                now as DateTime<Utc>,
                keeper.user as UserId,
            )
            .execute(&mut *conn)
            .await?;
            id
        }
        None => {
            insert_booking(
                &mut *conn,
                &session,
                NewBooking {
                    user: member,
                    status: BookingStatus::Confirmed,
                    booked_by: Some(keeper.user),
                    enrolment: None,
                    walk_in: true,
                    reason: String::new(),
                },
                now,
            )
            .await?
            .0
        }
    };
    let extra = serde_json::json!({ "booking_id": booking.0, "walk_in": true });
    audit(
        &mut *conn,
        &session,
        keeper.user,
        AuditAction::BookingWalkIn,
        member,
        extra.clone(),
    )
    .await?;
    notify(
        conn,
        &session,
        member,
        NotificationKind::BookingConfirmed,
        extra,
    )
    .await?;
    Ok(member)
}

/// The roster's keeper: a note on one booking of the session (what the trainer should
/// remember), replacing the last one.
pub async fn set_note(
    conn: &mut PgConnection,
    keeper: &RosterKeeper,
    booking: BookingId,
    note: &str,
) -> AppResult<()> {
    let note = checked_text("note", note, MAX_NOTE_LEN)?;
    sqlx::query!(
        "update bookings set note = $3 where id = $1 and occurrence_id = $2",
        booking as BookingId,
        keeper.occurrence as OccurrenceId,
        note,
    )
    .execute(conn)
    .await?
    .rows_affected()
    .eq(&1)
    .then_some(())
    .ok_or(AppError::NotFound)
}
