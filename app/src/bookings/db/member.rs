//! What a member does: book a spot (or a waitlist place), cancel it, enrol in a term, mark
//! themselves absent for one session of it, end the enrolment.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use sqlx::PgConnection;

use super::{
    audit, insert_booking, lock_membership, lock_session, notify, record_strike, refill,
    rules_and_zone, NewBooking, Session, StrikeReason,
};
use crate::access::MembershipStatus;
use crate::audit::AuditAction;
use crate::bookings::{Booking, BookingRules, BookingStatus, Cancellation, Enrolment};
use crate::error::{AppError, AppResult};
use crate::ids::{BookingId, EnrolmentId, EventId, OccurrenceId, SocietyId, UserId};
use crate::notifications::NotificationKind;
use crate::wall::{local, local_instant};

/// Proof that `user` is an approved member of `society` without a booking ban, with their
/// membership row locked until the transaction ends (first in the lock order): their limits
/// and strikes cannot change under them. Only `lock_booker` makes one.
#[derive(Debug)]
pub struct Booker {
    society: SocietyId,
    user: UserId,
    rules: BookingRules,
    zone: Tz,
}

impl Booker {
    pub fn society(&self) -> SocietyId {
        self.society
    }

    /// `lock_session` with the rules and zone this proof already read.
    async fn lock_session(&self, conn: &mut PgConnection, id: OccurrenceId) -> AppResult<Session> {
        super::lock_session_with(conn, self.society, id, self.rules, self.zone).await
    }
    pub fn user(&self) -> UserId {
        self.user
    }
}

/// Who may book in `society`: its approved members without a current booking ban. Anyone
/// else is told why (`Conflict` with the reason; `Forbidden` for people who are not members).
pub async fn lock_booker(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
    now: DateTime<Utc>,
) -> AppResult<Booker> {
    let Some(status) = lock_membership(&mut *conn, society, user).await? else {
        return Err(AppError::Forbidden);
    };
    let (rules, zone) = rules_and_zone(&mut *conn, society).await?;
    let ban = match status {
        MembershipStatus::Approved => super::read::ban_of(conn, society, user, now).await?,
        _ => None,
    };
    if let Some(reason) = super::read::standing_of(Some(user), Some(status), ban, zone).reason() {
        return Err(AppError::Conflict(reason));
    }
    Ok(Booker {
        society,
        user,
        rules,
        zone,
    })
}

/// The caller's active booking of `occurrence`, if any.
pub(crate) async fn active_booking(
    conn: &mut PgConnection,
    occurrence: OccurrenceId,
    user: UserId,
) -> AppResult<Option<(BookingId, BookingStatus, Option<i64>)>> {
    let row = sqlx::query!(
        r#"select id as "id: BookingId", status as "status: BookingStatus", queue_number
             from bookings
            where occurrence_id = $1 and user_id = $2 and status in ('confirmed', 'waitlisted')"#,
        occurrence as OccurrenceId,
        user as UserId,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.status, r.queue_number)))
}

/// Refuses a booking past `max_active` one-off bookings for sessions to come, or past
/// `max_per_week` in the session's calendar week (Monday to Sunday, the society's time).
/// Term enrolments and walk-ins do not count.
async fn check_limits(
    conn: &mut PgConnection,
    booker: &Booker,
    session: &Session,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let day = local(booker.zone, session.starts_at).date();
    let monday = day - Duration::days(day.weekday().num_days_from_monday().into());
    let week_start = local_instant(booker.zone, monday.and_time(NaiveTime::MIN));
    let week_end = local_instant(
        booker.zone,
        (monday + Duration::days(7)).and_time(NaiveTime::MIN),
    );
    let counts = sqlx::query!(
        r#"select count(*) filter (where o.starts_at > $3) as "active!",
                  count(*) filter (where o.starts_at >= $4 and o.starts_at < $5) as "week!"
             from bookings b join occurrences o on o.id = b.occurrence_id
            where b.user_id = $1 and b.society_id = $2 and b.status in ('confirmed', 'waitlisted')
              and b.enrolment_id is null and not b.walk_in and o.status = 'scheduled'
              and (o.starts_at > $3 or (o.starts_at >= $4 and o.starts_at < $5))"#,
        booker.user as UserId,
        booker.society as SocietyId,
        now as DateTime<Utc>,
        week_start as DateTime<Utc>,
        week_end as DateTime<Utc>,
    )
    .fetch_one(conn)
    .await?;
    let rules = &booker.rules;
    if counts.active >= i64::from(rules.max_active) {
        return Err(AppError::Conflict(format!(
            "You already hold {} bookings for sessions to come, the most this society allows. Cancel one to book another.",
            rules.max_active
        )));
    }
    if counts.week >= i64::from(rules.max_per_week) {
        return Err(AppError::Conflict(format!(
            "You already have {} bookings in the week of {}, the most this society allows per week.",
            rules.max_per_week,
            monday.format("%-d %b")
        )));
    }
    Ok(())
}

/// Approved members without a ban: a spot in the session, or the next waitlist place when it
/// is full (that is not an error). Booking must be open (not before `opens_days`, not after
/// `closes_minutes` before the start, never for a started or cancelled session), the member
/// must be within their limits, and they may hold one active booking per session.
#[tracing::instrument(skip_all, fields(society = %booker.society.0, occurrence = %id.0))]
pub async fn book(
    conn: &mut PgConnection,
    booker: &Booker,
    id: OccurrenceId,
    now: DateTime<Utc>,
) -> AppResult<Booking> {
    let session = booker.lock_session(&mut *conn, id).await?;
    session.refuse_cancelled()?;
    if let Some(reason) = session.cutoffs().closed_reason(session.zone, now) {
        return Err(AppError::Conflict(reason));
    }
    if let Some((_, status, _)) = active_booking(&mut *conn, id, booker.user).await? {
        return Err(AppError::Conflict(match status {
            BookingStatus::Waitlisted => "You are already on the waitlist of this session.".into(),
            _ => "You already have a spot in this session.".into(),
        }));
    }
    check_limits(&mut *conn, booker, &session, now).await?;
    let status = session.next_place();
    let (booking, position) = insert_booking(
        &mut *conn,
        &session,
        NewBooking {
            user: booker.user,
            status,
            booked_by: None,
            enrolment: None,
            walk_in: false,
            reason: String::new(),
        },
        now,
    )
    .await?;
    announce_booked(conn, &session, booker.user, booker.user, booking, position).await?;
    Ok(Booking {
        id: booking,
        occurrence_id: id,
        status,
        waitlist_position: position,
    })
}

/// The audit and outbox rows of a new booking (`position` set for a waitlist place).
pub(crate) async fn announce_booked(
    conn: &mut PgConnection,
    session: &Session,
    actor: UserId,
    member: UserId,
    booking: BookingId,
    position: Option<i64>,
) -> AppResult<()> {
    let (action, kind) = match position {
        Some(_) => (
            AuditAction::BookingWaitlisted,
            NotificationKind::BookingWaitlisted,
        ),
        None => (
            AuditAction::BookingConfirmed,
            NotificationKind::BookingConfirmed,
        ),
    };
    let extra = serde_json::json!({ "booking_id": booking.0, "waitlist_position": position });
    audit(&mut *conn, session, actor, action, member, extra.clone()).await?;
    notify(conn, session, member, kind, extra).await
}

/// How a member gives up a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// Cancels it (a spot or a waitlist place).
    Cancel,
    /// Keeps the term enrolment, misses this one session.
    Excuse,
}

/// A booking of `user`'s, the society it is in and its session.
async fn own_booking(
    conn: &mut PgConnection,
    user: UserId,
    id: BookingId,
) -> AppResult<(SocietyId, OccurrenceId)> {
    let row = sqlx::query!(
        r#"select society_id as "society: SocietyId", occurrence_id as "occurrence: OccurrenceId"
             from bookings where id = $1 and user_id = $2"#,
        id as BookingId,
        user as UserId,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok((row.society, row.occurrence))
}

/// Gives up the booking `id` of `member` in the locked `session`, as `how` says: refuses a
/// spot once the session has started; late (after free cancellation) it is a strike; a spot
/// that frees moves the next person up. `actor` is who did it.
pub(crate) async fn give_up(
    conn: &mut PgConnection,
    session: &Session,
    actor: UserId,
    member: UserId,
    id: BookingId,
    how: GiveUp,
    now: DateTime<Utc>,
) -> AppResult<Cancellation> {
    let row = sqlx::query!(
        r#"select status as "status: BookingStatus", enrolment_id from bookings
            where id = $1 and user_id = $2 for update"#,
        id as BookingId,
        member as UserId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if !row.status.is_active() {
        return Err(AppError::Conflict(
            "This booking is already cancelled.".into(),
        ));
    }
    if how == GiveUp::Excuse && row.enrolment_id.is_none() {
        return Err(AppError::Conflict(
            "Only a session of a term you are enrolled in can be marked absent; cancel this booking instead.".into(),
        ));
    }
    let had_spot = row.status == BookingStatus::Confirmed;
    if had_spot && now >= session.starts_at {
        return Err(AppError::Conflict(
            "This session has started, so the booking can no longer be cancelled. Tell the trainer if you cannot come.".into(),
        ));
    }
    let late = had_spot && session.cutoffs().is_late(now);
    let status = match how {
        GiveUp::Cancel => BookingStatus::Cancelled,
        GiveUp::Excuse => BookingStatus::Excused,
    };
    sqlx::query!(
        "update bookings set status = $2, queue_number = null, cancelled_at = $3, cancelled_by = $4, late = $5,
                attendance = null, attendance_at = null, attendance_by = null
          where id = $1",
        id as BookingId,
        status as BookingStatus,
        now as DateTime<Utc>,
        actor as UserId,
        late,
    )
    .execute(&mut *conn)
    .await?;
    let (action, kind) = match how {
        GiveUp::Cancel => (
            AuditAction::BookingCancelled,
            NotificationKind::BookingCancelled,
        ),
        GiveUp::Excuse => (
            AuditAction::BookingExcused,
            NotificationKind::BookingExcused,
        ),
    };
    let extra = serde_json::json!({ "booking_id": id.0, "late": late, "had_spot": had_spot });
    audit(&mut *conn, session, actor, action, member, extra.clone()).await?;
    notify(&mut *conn, session, member, kind, extra).await?;
    if late {
        record_strike(
            &mut *conn,
            session,
            actor,
            member,
            id,
            StrikeReason::LateCancellation,
            now,
        )
        .await?;
    }
    if had_spot {
        refill(conn, session, actor, now).await?;
    }
    Ok(Cancellation { id, status, late })
}

/// The booking's owner: gives up `id` as `how` says, with the locks in order (their
/// membership, then the session, then the booking). Works for members in any standing, so
/// nobody is stuck with a booking.
async fn give_up_own(
    conn: &mut PgConnection,
    user: UserId,
    id: BookingId,
    how: GiveUp,
    now: DateTime<Utc>,
) -> AppResult<Cancellation> {
    let (society, occurrence) = own_booking(&mut *conn, user, id).await?;
    lock_membership(&mut *conn, society, user).await?;
    let session = lock_session(&mut *conn, society, occurrence).await?;
    give_up(conn, &session, user, user, id, how, now).await
}

/// The booking's owner: cancels it (a spot or a waitlist place). A spot given up after free
/// cancellation is `late` (a strike); the next person waiting moves up in this transaction.
#[tracing::instrument(skip_all, fields(booking = %id.0))]
pub async fn cancel(
    conn: &mut PgConnection,
    user: UserId,
    id: BookingId,
    now: DateTime<Utc>,
) -> AppResult<Cancellation> {
    give_up_own(conn, user, id, GiveUp::Cancel, now).await
}

/// The owner of a booking that belongs to a term enrolment: will not come to this one
/// session. The spot frees (the next person moves up); the enrolment stays.
#[tracing::instrument(skip_all, fields(booking = %id.0))]
pub async fn excuse(
    conn: &mut PgConnection,
    user: UserId,
    id: BookingId,
    now: DateTime<Utc>,
) -> AppResult<Cancellation> {
    give_up_own(conn, user, id, GiveUp::Excuse, now).await
}

/// Books `member` into the locked `session` for `enrolment` (a spot, or the waitlist when it
/// is full); a one-off booking they already hold joins the enrolment. `None` while booking is
/// not open for it: before its booking window opens (the `enrolments.book` job books it
/// then, like everyone else's first chance) and once booking has closed.
pub(crate) async fn enrol_one(
    conn: &mut PgConnection,
    session: &Session,
    member: UserId,
    enrolment: EnrolmentId,
    now: DateTime<Utc>,
) -> AppResult<Option<BookingStatus>> {
    let cutoffs = session.cutoffs();
    if session.cancelled || now >= cutoffs.closes_at || now < cutoffs.opens_at {
        return Ok(None);
    }
    if let Some((id, status, _)) = active_booking(&mut *conn, session.id, member).await? {
        sqlx::query!(
            "update bookings set enrolment_id = $2 where id = $1",
            id as BookingId,
            enrolment as EnrolmentId,
        )
        .execute(&mut *conn)
        .await?;
        return Ok(Some(status));
    }
    let status = session.next_place();
    let (id, position) = insert_booking(
        &mut *conn,
        session,
        NewBooking {
            user: member,
            status,
            booked_by: None,
            enrolment: Some(enrolment),
            walk_in: false,
            reason: String::new(),
        },
        now,
    )
    .await?;
    let action = match position {
        Some(_) => AuditAction::BookingWaitlisted,
        None => AuditAction::BookingConfirmed,
    };
    audit(
        conn,
        session,
        member,
        action,
        member,
        serde_json::json!({ "booking_id": id.0, "waitlist_position": position, "enrolment_id": enrolment.0 }),
    )
    .await?;
    Ok(Some(status))
}

/// Approved members without a ban: enrols in the weekly series `event` (a term) up to
/// `until` (inclusive; the whole series when `None`): a spot in each session whose booking is
/// open and that has room, a waitlist place in each that is full; each later session is
/// booked the same way when its booking window opens (job `enrolments.book`), also the ones
/// the series gains later. So a term holds a place in line, never a spot ahead of the window
/// everyone else books in. The limits for one-off bookings (so many to come, so many a week)
/// do not apply to a term; a booking ban does (no session is booked while it lasts). One audit
/// row per session, one outbox row for the enrolment.
#[tracing::instrument(skip_all, fields(society = %booker.society.0, event = %event.0))]
pub async fn enrol(
    conn: &mut PgConnection,
    booker: &Booker,
    event: EventId,
    until: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> AppResult<Enrolment> {
    let row = sqlx::query!(
        r#"select title, weekdays is not null as "weekly!" from events where id = $1 and society_id = $2"#,
        event as EventId,
        booker.society as SocietyId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if !row.weekly {
        return Err(AppError::invalid(
            "event",
            "Only a weekly series has a term to enrol in; book this session instead.",
        ));
    }
    let today = local(booker.zone, now).date();
    if until.is_some_and(|u| u < today) {
        return Err(AppError::invalid(
            "until",
            "Choose a last date from today on.",
        ));
    }
    let id = sqlx::query_scalar!(
        r#"insert into enrolments (society_id, event_id, user_id, until_date, created_at)
           values ($1, $2, $3, $4, $5) returning id as "id: EnrolmentId""#,
        booker.society as SocietyId,
        event as EventId,
        booker.user as UserId,
        until as Option<NaiveDate>,
        now as DateTime<Utc>,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, super::constraint_message))?;
    let sessions = sqlx::query_scalar!(
        r#"select id as "id: OccurrenceId" from occurrences
            where event_id = $1 and status = 'scheduled' and starts_at > $2
              and ($3::date is null or series_date <= $3)
            order by starts_at, id"#,
        event as EventId,
        now as DateTime<Utc>,
        until as Option<NaiveDate>,
    )
    .fetch_all(&mut *conn)
    .await?;
    let (mut confirmed, mut waitlisted) = (0, 0);
    for occurrence in sessions {
        let session = booker.lock_session(&mut *conn, occurrence).await?;
        match enrol_one(&mut *conn, &session, booker.user, id, now).await? {
            Some(BookingStatus::Confirmed) => confirmed += 1,
            Some(_) => waitlisted += 1,
            None => {}
        }
    }
    let details = serde_json::json!({
        "enrolment_id": id.0, "event_id": event.0, "title": row.title,
        "until": until, "confirmed": confirmed, "waitlisted": waitlisted,
    });
    crate::audit::record(
        &mut *conn,
        Some(booker.society),
        booker.user,
        AuditAction::EnrolmentCreated,
        Some(booker.user.0.to_string()),
        details.clone(),
    )
    .await?;
    crate::notifications::db::enqueue(
        conn,
        booker.society,
        booker.user,
        NotificationKind::EnrolmentCreated,
        details,
    )
    .await?;
    Ok(Enrolment {
        id,
        event_id: event,
        confirmed,
        waitlisted,
    })
}

/// The `enrolments.book` job: books members with a term into its sessions whose booking
/// window has opened (and not closed) since, where they hold no booking of that term yet
/// (one they gave up stays given up); members under a booking ban are skipped until it ends.
/// Safe to run on every replica at once (each pair is booked under the session's lock, and
/// the partial unique index refuses a second active booking). Returns how many were booked.
pub async fn book_opened_terms(pool: &sqlx::PgPool, now: DateTime<Utc>) -> AppResult<u32> {
    let due = sqlx::query!(
        r#"select n.id as "enrolment: EnrolmentId", n.user_id as "user_id: UserId",
                  n.society_id as "society_id: SocietyId", o.id as "occurrence: OccurrenceId"
             from enrolments n
             join memberships m on m.society_id = n.society_id and m.user_id = n.user_id
                               and m.status = 'approved'
             join booking_rules r on r.society_id = n.society_id
             join occurrences o on o.event_id = n.event_id and o.status = 'scheduled'
            where n.ended_at is null
              and (n.until_date is null or o.series_date <= n.until_date)
              and o.starts_at > $1::timestamptz + make_interval(mins => r.closes_minutes)
              -- a day of slack for the wall-clock window (DST); the exact check is the session's
              and o.starts_at <= $1::timestamptz + make_interval(days => r.opens_days + 1)
              and not exists (select 1 from bookings b
                               where b.occurrence_id = o.id and b.user_id = n.user_id
                                 and (b.enrolment_id = n.id or b.status in ('confirmed', 'waitlisted')))
            order by o.starts_at, o.id, n.created_at, n.id
            limit 5000"#,
        now as DateTime<Utc>,
    )
    .fetch_all(pool)
    .await?;
    let mut booked = 0;
    for pair in due {
        let mut tx = pool.begin().await?;
        lock_membership(&mut tx, pair.society_id, pair.user_id).await?;
        if super::read::ban_of(&mut tx, pair.society_id, pair.user_id, now)
            .await?
            .is_some()
        {
            continue;
        }
        let session = lock_session(&mut tx, pair.society_id, pair.occurrence).await?;
        let made = enrol_one(&mut tx, &session, pair.user_id, pair.enrolment, now).await?;
        tx.commit().await?;
        if made.is_some() {
            booked += 1;
        }
    }
    Ok(booked)
}

/// Ends `enrolment` of `member` (by `actor`): its bookings for sessions to come are cancelled
/// (the usual late rule applies to each spot; the next people move up).
pub(crate) async fn end_enrolment_of(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    enrolment: EnrolmentId,
    now: DateTime<Utc>,
) -> AppResult<u32> {
    let title = sqlx::query_scalar!(
        "update enrolments n set ended_at = $3 from events e
          where n.id = $1 and n.user_id = $2 and n.ended_at is null and e.id = n.event_id
          returning e.title",
        enrolment as EnrolmentId,
        member as UserId,
        now as DateTime<Utc>,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let coming = sqlx::query!(
        r#"select b.id as "id: BookingId", b.occurrence_id as "occurrence: OccurrenceId"
             from bookings b join occurrences o on o.id = b.occurrence_id
            where b.enrolment_id = $1 and b.status in ('confirmed', 'waitlisted') and o.starts_at > $2
            order by o.starts_at, o.id"#,
        enrolment as EnrolmentId,
        now as DateTime<Utc>,
    )
    .fetch_all(&mut *conn)
    .await?;
    let count = coming.len() as u32;
    for booking in coming {
        let session = lock_session(&mut *conn, society, booking.occurrence).await?;
        give_up(
            &mut *conn,
            &session,
            actor,
            member,
            booking.id,
            GiveUp::Cancel,
            now,
        )
        .await?;
    }
    let details =
        serde_json::json!({ "enrolment_id": enrolment.0, "title": title, "cancelled": count });
    crate::audit::record(
        &mut *conn,
        Some(society),
        actor,
        AuditAction::EnrolmentEnded,
        Some(member.0.to_string()),
        details.clone(),
    )
    .await?;
    crate::notifications::db::enqueue(
        conn,
        society,
        member,
        NotificationKind::EnrolmentEnded,
        details,
    )
    .await?;
    Ok(count)
}

/// The enrolled member: ends their term enrolment; the bookings still to come are cancelled.
#[tracing::instrument(skip_all, fields(enrolment = %enrolment.0))]
pub async fn end_enrolment(
    conn: &mut PgConnection,
    user: UserId,
    enrolment: EnrolmentId,
    now: DateTime<Utc>,
) -> AppResult<u32> {
    let society = sqlx::query_scalar!(
        r#"select society_id as "society: SocietyId" from enrolments where id = $1 and user_id = $2"#,
        enrolment as EnrolmentId,
        user as UserId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    lock_membership(&mut *conn, society, user).await?;
    end_enrolment_of(conn, society, user, user, enrolment, now).await
}
