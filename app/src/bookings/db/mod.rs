//! The booking rules and their SQL.
//!
//! Lock order, for every transaction that takes more than one of these locks (after the
//! society row, when an admin's proof took it): the member's `memberships` row (`for no key
//! update`; a member's own limits, strikes and bans are decided under it), then the session's
//! `occurrences` row (`for no key update`; capacity and the waitlist are decided under it;
//! several sessions in start order), then `bookings` rows. Taking them in this order, or only
//! some of them, cannot deadlock with another transaction that does the same.
//!
//! Every change writes its audit row and its outbox row in the caller's transaction. Nothing
//! here does network I/O.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sqlx::PgConnection;

use super::{BookingRules, BookingStatus};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::ids::{BookingId, OccurrenceId, SocietyId, UserId};
use crate::notifications::NotificationKind;
use crate::wall::{local, local_instant, Zone};

mod admin;
mod checkin;
mod member;
mod read;
mod reminders;
mod report;
mod roster;

pub use admin::{
    add_for, after_capacity_change, bans, enrol_new_sessions, lift_ban, release_member, remove,
    update_rules,
};
pub use checkin::{check_in, checkin_code, qr_svg, read_checkin_code, CheckIn, CHECKIN_PREFIX};
pub use member::{
    book, book_opened_terms, cancel, end_enrolment, enrol, excuse, lock_booker, Booker,
};
pub use read::{my_bookings, rules, session_booking, standing, upcoming_bookings};
pub use reminders::{announce_ended_bans, queue_reminders, reminder_due};
pub use report::{range_lines, report, session_lines, MAX_REPORT_DAYS};
pub use roster::{
    add_walk_in, find_member, keeper_among, mark_attendance, roster, roster_keeper, set_note,
    RosterKeeper, Seen,
};

/// The booking constraints a caller's input can violate, with what they are told.
pub(crate) fn constraint_message(name: &str) -> Option<AppError> {
    Some(match name {
        "bookings_active_key" => {
            AppError::Conflict("You already have a booking for this session.".into())
        }
        "enrolments_active_key" => {
            AppError::Conflict("You are already enrolled in this series.".into())
        }
        "bookings_capacity" => {
            AppError::Conflict("The last spot was just taken. Join the waitlist instead.".into())
        }
        "bookings_note_length" => AppError::invalid(
            "note",
            format!("Keep the note to {} characters.", super::MAX_NOTE_LEN),
        ),
        _ => return None,
    })
}

/// A session, locked for the transaction, with what the booking rules need.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: OccurrenceId,
    pub society: SocietyId,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub capacity: i32,
    pub confirmed: i32,
    pub cancelled: bool,
    pub zone: Tz,
    pub rules: BookingRules,
}

impl Session {
    /// What a new booking gets: a spot while one is free, else the next waitlist place.
    pub fn next_place(&self) -> BookingStatus {
        if self.confirmed < self.capacity {
            BookingStatus::Confirmed
        } else {
            BookingStatus::Waitlisted
        }
    }

    /// Refuses booking a cancelled session.
    pub fn refuse_cancelled(&self) -> AppResult<()> {
        if self.cancelled {
            return Err(AppError::Conflict(
                "This session is cancelled, so it cannot be booked.".into(),
            ));
        }
        Ok(())
    }

    pub fn cutoffs(&self) -> Cutoffs {
        Cutoffs::of(&self.rules, self.zone, self.starts_at)
    }

    /// What the audit and outbox rows say about the session.
    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "occurrence_id": self.id.0,
            "title": self.title,
            "starts": local(self.zone, self.starts_at).format("%Y-%m-%d %H:%M").to_string(),
            "starts_at": self.starts_at,
        })
    }
}

/// When booking opens and closes for a session, and when free cancellation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// `opens_days` before the start, at the same wall-clock time in the society's zone.
    pub opens_at: DateTime<Utc>,
    /// `closes_minutes` before the start.
    pub closes_at: DateTime<Utc>,
    /// `free_cancel_hours` before the start; a cancellation at this instant is still free.
    pub free_cancel_until: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
}

impl Cutoffs {
    pub fn of(rules: &BookingRules, zone: Tz, starts_at: DateTime<Utc>) -> Self {
        let opens_local = local(zone, starts_at) - Duration::days(rules.opens_days.into());
        Self {
            opens_at: local_instant(zone, opens_local),
            closes_at: starts_at - Duration::minutes(rules.closes_minutes.into()),
            free_cancel_until: starts_at - Duration::hours(rules.free_cancel_hours.into()),
            starts_at,
        }
    }

    /// Why a member cannot book at `now`, or `None` while booking is open.
    pub fn closed_reason(&self, zone: Tz, now: DateTime<Utc>) -> Option<String> {
        let at = |t: DateTime<Utc>| local(zone, t).format("%a %-d %b %Y, %H:%M").to_string();
        if now >= self.starts_at {
            Some("This session has started; booking is closed.".into())
        } else if now >= self.closes_at {
            Some(format!("Booking closed at {}.", at(self.closes_at)))
        } else if now < self.opens_at {
            Some(format!("Booking opens on {}.", at(self.opens_at)))
        } else {
            None
        }
    }

    /// Whether giving up a spot at `now` counts as a strike.
    pub fn is_late(&self, now: DateTime<Utc>) -> bool {
        now > self.free_cancel_until
    }
}

/// The society's fair-use rules and time zone.
pub(crate) async fn rules_and_zone(
    conn: &mut PgConnection,
    society: SocietyId,
) -> AppResult<(BookingRules, Tz)> {
    let r = sqlx::query!(
        r#"select r.opens_days, r.closes_minutes, r.free_cancel_hours, r.strike_limit,
                r.strike_window_days, r.ban_days, r.max_active, r.max_per_week,
                r.first_reminder_hours, r.second_reminder_hours, s.time_zone as "time_zone: Zone"
           from booking_rules r join societies s on s.id = r.society_id
          where r.society_id = $1"#,
        society as SocietyId,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let rules = BookingRules {
        opens_days: r.opens_days,
        closes_minutes: r.closes_minutes,
        free_cancel_hours: r.free_cancel_hours,
        strike_limit: r.strike_limit,
        strike_window_days: r.strike_window_days,
        ban_days: r.ban_days,
        max_active: r.max_active,
        max_per_week: r.max_per_week,
        first_reminder_hours: r.first_reminder_hours,
        second_reminder_hours: r.second_reminder_hours,
    };
    Ok((rules, r.time_zone.0))
}

/// The session `id` of `society`, locked (`for no key update`) until the transaction ends;
/// `NotFound` for other societies' ids.
pub(crate) async fn lock_session(
    conn: &mut PgConnection,
    society: SocietyId,
    id: OccurrenceId,
) -> AppResult<Session> {
    let (rules, zone) = rules_and_zone(&mut *conn, society).await?;
    lock_session_with(conn, society, id, rules, zone).await
}

/// `lock_session`, with the society's rules and zone already in hand.
pub(crate) async fn lock_session_with(
    conn: &mut PgConnection,
    society: SocietyId,
    id: OccurrenceId,
    rules: BookingRules,
    zone: Tz,
) -> AppResult<Session> {
    let r = sqlx::query!(
        r#"select e.title, o.starts_at as "starts_at: DateTime<Utc>",
                  o.capacity, o.confirmed_count, o.status = 'cancelled' as "cancelled!"
             from occurrences o join events e on e.id = o.event_id
            where o.id = $1 and o.society_id = $2
              for no key update of o"#,
        id as OccurrenceId,
        society as SocietyId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(Session {
        id,
        society,
        title: r.title,
        starts_at: r.starts_at,
        capacity: r.capacity,
        confirmed: r.confirmed_count,
        cancelled: r.cancelled,
        zone,
        rules,
    })
}

/// Locks `member`'s membership row in `society` (first in the lock order); their status, if
/// they have one.
pub(crate) async fn lock_membership(
    conn: &mut PgConnection,
    society: SocietyId,
    member: UserId,
) -> AppResult<Option<crate::access::MembershipStatus>> {
    let status = sqlx::query_scalar!(
        r#"select status as "status: crate::access::MembershipStatus" from memberships
            where society_id = $1 and user_id = $2 for no key update"#,
        society as SocietyId,
        member as UserId,
    )
    .fetch_optional(conn)
    .await?;
    Ok(status)
}

/// A booking to add: who, in which status, and how it came about.
pub(crate) struct NewBooking {
    pub user: UserId,
    pub status: BookingStatus,
    pub booked_by: Option<UserId>,
    pub enrolment: Option<crate::ids::EnrolmentId>,
    pub walk_in: bool,
    pub reason: String,
}

/// Adds a booking to the locked `session`: a waitlisted one takes the next queue number.
/// Returns its id and waitlist position.
pub(crate) async fn insert_booking(
    conn: &mut PgConnection,
    session: &Session,
    new: NewBooking,
    now: DateTime<Utc>,
) -> AppResult<(BookingId, Option<i64>)> {
    let waitlisted = new.status == BookingStatus::Waitlisted;
    let row = sqlx::query!(
        r#"insert into bookings (society_id, occurrence_id, user_id, status, queue_number,
                                 confirmed_at, booked_by, enrolment_id, walk_in, reason, created_at,
                                 attendance, attendance_at, attendance_by)
           values ($1, $2, $3, $4, case when $5 then nextval('bookings_queue_number_seq') end,
                   case when not $5 then $6::timestamptz end, $7, $8, $9, $10, $6,
                   case when $9 then 'present'::attendance end, case when $9 then $6::timestamptz end,
                   case when $9 then $7::uuid end)
           returning id as "id: BookingId", queue_number"#,
        session.society as SocietyId,
        session.id as OccurrenceId,
        new.user as UserId,
        new.status as BookingStatus,
        waitlisted,
        now as DateTime<Utc>,
        new.booked_by.map(|u| u.0),
        new.enrolment.map(|e| e.0),
        new.walk_in,
        new.reason,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message))?;
    let position = match row.queue_number {
        Some(number) => Some(position(conn, session.id, number).await?),
        None => None,
    };
    Ok((row.id, position))
}

/// The 1-based place of queue number `number` on `occurrence`'s waitlist.
pub(crate) async fn position(
    conn: &mut PgConnection,
    occurrence: OccurrenceId,
    number: i64,
) -> AppResult<i64> {
    let position = sqlx::query_scalar!(
        r#"select count(*) as "n!" from bookings
            where occurrence_id = $1 and status = 'waitlisted' and queue_number <= $2"#,
        occurrence as OccurrenceId,
        number,
    )
    .fetch_one(conn)
    .await?;
    Ok(position)
}

/// Records a booking change by `actor` about `member`'s booking in the audit log.
pub(crate) async fn audit(
    conn: &mut PgConnection,
    session: &Session,
    actor: UserId,
    action: AuditAction,
    member: UserId,
    extra: serde_json::Value,
) -> AppResult<()> {
    let mut details = session.details();
    if let (Some(map), serde_json::Value::Object(more)) = (details.as_object_mut(), extra) {
        map.extend(more);
    }
    crate::audit::record(
        conn,
        Some(session.society),
        actor,
        action,
        Some(member.0.to_string()),
        details,
    )
    .await
}

/// Queues a notification of `kind` about `session` for `member`.
/// Counts a booking's outcome for `/metrics` (confirmed, waitlisted, refused; overload
/// answers are counted where they are given), and passes it on.
pub fn counted(result: AppResult<crate::bookings::Booking>) -> AppResult<crate::bookings::Booking> {
    let outcome = match &result {
        Ok(b) if b.status == BookingStatus::Waitlisted => "waitlisted",
        Ok(_) => "confirmed",
        Err(AppError::Unavailable { .. } | AppError::RateLimited { .. } | AppError::Internal) => {
            return result
        }
        Err(_) => "refused",
    };
    metrics::counter!("roster_bookings_total", "outcome" => outcome).increment(1);
    result
}

/// Counts a cancelled booking for `/metrics`.
pub fn count_cancelled() {
    metrics::counter!("roster_bookings_total", "outcome" => "cancelled").increment(1);
}

pub(crate) async fn notify(
    conn: &mut PgConnection,
    session: &Session,
    member: UserId,
    kind: NotificationKind,
    extra: serde_json::Value,
) -> AppResult<()> {
    let mut payload = session.details();
    if let (Some(map), serde_json::Value::Object(more)) = (payload.as_object_mut(), extra) {
        map.extend(more);
    }
    crate::notifications::db::enqueue(conn, session.society, member, kind, payload).await
}

/// Moves people up from the waitlist of the locked `session` while it has spots, first come
/// first served, each with an audit row (by `actor`, who freed the spot) and an outbox row.
/// Nobody moves up once booking has closed or the session is cancelled: the trainer adds
/// walk-ins then. Returns who moved up.
pub(crate) async fn refill(
    conn: &mut PgConnection,
    session: &Session,
    actor: UserId,
    now: DateTime<Utc>,
) -> AppResult<Vec<UserId>> {
    if session.cancelled || now >= session.cutoffs().closes_at {
        return Ok(Vec::new());
    }
    let promoted = sqlx::query!(
        r#"with room as (
               select greatest(capacity - confirmed_count, 0) as n from occurrences where id = $1),
           next as (
               select id from bookings where occurrence_id = $1 and status = 'waitlisted'
                order by queue_number limit (select n from room) for update)
           update bookings b set status = 'confirmed', queue_number = null, confirmed_at = $2
             from next where b.id = next.id
           returning b.id as "id: BookingId", b.user_id as "user_id: UserId""#,
        session.id as OccurrenceId,
        now as DateTime<Utc>,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut people = Vec::with_capacity(promoted.len());
    for row in promoted {
        let extra = serde_json::json!({ "booking_id": row.id.0 });
        audit(
            &mut *conn,
            session,
            actor,
            AuditAction::BookingPromoted,
            row.user_id,
            extra.clone(),
        )
        .await?;
        notify(
            &mut *conn,
            session,
            row.user_id,
            NotificationKind::BookingPromoted,
            extra,
        )
        .await?;
        people.push(row.user_id);
    }
    // Counted in the transaction that promotes (a rollback after this is rare and harmless).
    metrics::counter!("roster_bookings_total", "outcome" => "promoted")
        .increment(people.len() as u64);
    Ok(people)
}

/// Why a strike was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "strike_reason", rename_all = "snake_case")]
pub(crate) enum StrikeReason {
    LateCancellation,
    NoShow,
}

/// Gives `member` a strike for `booking` (once per booking) and, when they now have
/// `strike_limit` strikes within `strike_window_days` (counting only strikes since their last
/// ban began), bans booking for `ban_days` from `now`.
pub(crate) async fn record_strike(
    conn: &mut PgConnection,
    session: &Session,
    actor: UserId,
    member: UserId,
    booking: BookingId,
    reason: StrikeReason,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let inserted = sqlx::query!(
        "insert into strikes (society_id, user_id, booking_id, reason, created_at)
         values ($1, $2, $3, $4, $5) on conflict on constraint strikes_booking_key do nothing",
        session.society as SocietyId,
        member as UserId,
        booking as BookingId,
        reason as StrikeReason,
        now as DateTime<Utc>,
    )
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        let why = match reason {
            StrikeReason::LateCancellation => "late_cancellation",
            StrikeReason::NoShow => "no_show",
        };
        notify(
            &mut *conn,
            session,
            member,
            NotificationKind::StrikeRecorded,
            serde_json::json!({ "reason": why }),
        )
        .await?;
    }
    let rules = &session.rules;
    let window_start = now - Duration::days(rules.strike_window_days.into());
    let state = sqlx::query!(
        r#"select
             (select count(*) from strikes
               where society_id = $1 and user_id = $2 and created_at > $3 and created_at <= $4
                 and created_at > coalesce((select max(starts_at) from booking_bans
                                             where society_id = $1 and user_id = $2), '-infinity'))
               as "strikes!",
             exists (select 1 from booking_bans
                      where society_id = $1 and user_id = $2 and lifted_at is null
                        and starts_at <= $4 and ends_at > $4) as "banned!""#,
        session.society as SocietyId,
        member as UserId,
        window_start as DateTime<Utc>,
        now as DateTime<Utc>,
    )
    .fetch_one(&mut *conn)
    .await?;
    if state.banned || state.strikes < i64::from(rules.strike_limit) {
        return Ok(());
    }
    let ends_at = now + Duration::days(rules.ban_days.into());
    sqlx::query!(
        "insert into booking_bans (society_id, user_id, starts_at, ends_at, strikes)
         values ($1, $2, $3, $4, $5)",
        session.society as SocietyId,
        member as UserId,
        now as DateTime<Utc>,
        ends_at as DateTime<Utc>,
        state.strikes as i32,
    )
    .execute(&mut *conn)
    .await?;
    let extra = serde_json::json!({
        "strikes": state.strikes,
        "until": local(session.zone, ends_at).format("%Y-%m-%d %H:%M").to_string(),
    });
    audit(
        &mut *conn,
        session,
        actor,
        AuditAction::BookingBanStarted,
        member,
        extra.clone(),
    )
    .await?;
    notify(
        conn,
        session,
        member,
        NotificationKind::BookingBanStarted,
        extra,
    )
    .await
}
