//! Reading bookings: where a person stands, their bookings, and the booking part of a
//! session page.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;

use super::Cutoffs;
use crate::access::{MembershipRole, MembershipStatus};
use crate::bookings::{
    Attendance, Booking, BookingRules, BookingStatus, MyBooking, SessionBooking, Standing,
};
use crate::error::{AppError, AppResult};
use crate::ids::{BookingId, EnrolmentId, EventId, OccurrenceId, SocietyId, UserId};
use crate::wall::{local, Zone};

/// Whether `user` may book in `society` at `now`, and if not, why.
pub async fn standing(
    conn: &mut PgConnection,
    society: SocietyId,
    user: Option<UserId>,
    now: DateTime<Utc>,
) -> AppResult<Standing> {
    let Some(user) = user else {
        return Ok(Standing::Visitor);
    };
    let row = sqlx::query!(
        r#"select m.status as "status: MembershipStatus", s.time_zone as "time_zone: Zone"
             from memberships m join societies s on s.id = m.society_id
            where m.society_id = $1 and m.user_id = $2"#,
        society as SocietyId,
        user as UserId,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Standing::NotMember);
    };
    let ban = match row.status {
        MembershipStatus::Approved => ban_of(conn, society, user, now).await?,
        _ => None,
    };
    Ok(standing_of(
        Some(user),
        Some(row.status),
        ban,
        row.time_zone.0,
    ))
}

/// Where a person stands from their membership's status (`None`: they have none) and the ban
/// in force, if any (`zone`: the society's, to say until when). The one mapping of both.
pub(crate) fn standing_of(
    user: Option<UserId>,
    status: Option<MembershipStatus>,
    ban: Option<(DateTime<Utc>, i32)>,
    zone: chrono_tz::Tz,
) -> Standing {
    match (user, status) {
        (None, _) => Standing::Visitor,
        (Some(_), None) => Standing::NotMember,
        (Some(_), Some(MembershipStatus::Pending)) => Standing::Pending,
        (Some(_), Some(MembershipStatus::Rejected)) => Standing::Rejected,
        (Some(_), Some(MembershipStatus::Suspended)) => Standing::Suspended,
        (Some(_), Some(MembershipStatus::Approved)) => match ban {
            Some((ends, strikes)) => Standing::Banned {
                until: local(zone, ends),
                strikes,
            },
            None => Standing::Member,
        },
    }
}

/// `user`'s booking ban in `society` at `now`, if one is in force: when it ends and after how
/// many strikes.
pub(crate) async fn ban_of(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
    now: DateTime<Utc>,
) -> AppResult<Option<(DateTime<Utc>, i32)>> {
    let ban = sqlx::query!(
        r#"select ends_at as "ends_at: DateTime<Utc>", strikes from booking_bans
            where society_id = $1 and user_id = $2 and lifted_at is null
              and starts_at <= $3 and ends_at > $3
            order by ends_at desc limit 1"#,
        society as SocietyId,
        user as UserId,
        now as DateTime<Utc>,
    )
    .fetch_optional(conn)
    .await?;
    Ok(ban.map(|b| (b.ends_at, b.strikes)))
}

/// The society's fair-use rules.
pub async fn rules(conn: &mut PgConnection, society: SocietyId) -> AppResult<BookingRules> {
    Ok(super::rules_and_zone(conn, society).await?.0)
}

/// The bookings of `user` in every society: those for sessions still to come (`past` false,
/// soonest first) or for sessions that have started (`past` true, latest first), with their
/// state and current waitlist positions.
pub async fn my_bookings(
    conn: &mut PgConnection,
    user: UserId,
    now: DateTime<Utc>,
    past: bool,
    limit: i64,
) -> AppResult<Vec<MyBooking>> {
    let rows = sqlx::query!(
        r#"select b.id as "id: BookingId", b.occurrence_id as "occurrence_id: OccurrenceId",
                  b.status as "status: BookingStatus", b.enrolment_id as "enrolment: EnrolmentId",
                  b.late, b.attendance as "attendance: Attendance",
                  case when b.status = 'waitlisted' then
                      (select count(*) from bookings w where w.occurrence_id = b.occurrence_id
                          and w.status = 'waitlisted' and w.queue_number <= b.queue_number) end as position,
                  s.slug, s.name as society_name, s.time_zone as "time_zone: Zone", e.title,
                  o.starts_at as "starts_at: DateTime<Utc>", o.ends_at as "ends_at: DateTime<Utc>",
                  o.status = 'cancelled' as "session_cancelled!"
             from bookings b
             join occurrences o on o.id = b.occurrence_id
             join events e on e.id = o.event_id
             join societies s on s.id = b.society_id
            where b.user_id = $1
              and (($3 and o.starts_at <= $2) or (not $3 and o.starts_at > $2 and b.status <> 'cancelled'))
            order by case when $3 then o.starts_at end desc, o.starts_at, b.id
            limit $4"#,
        user as UserId,
        now as DateTime<Utc>,
        past,
        limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let zone = r.time_zone.0;
            MyBooking {
                booking: Booking {
                    id: r.id,
                    occurrence_id: r.occurrence_id,
                    status: r.status,
                    waitlist_position: r.position,
                },
                society_slug: r.slug,
                society_name: r.society_name,
                title: r.title,
                starts_at: r.starts_at,
                starts_local: local(zone, r.starts_at),
                ends_local: local(zone, r.ends_at),
                session_cancelled: r.session_cancelled,
                enrolment: r.enrolment,
                late: r.late,
                attendance: r.attendance,
            }
        })
        .collect())
}

/// `user`'s active bookings (spots and waitlist places) for sessions still to come, soonest
/// first, with current positions: the REST API's list.
pub async fn upcoming_bookings(
    conn: &mut PgConnection,
    user: UserId,
    now: DateTime<Utc>,
) -> AppResult<Vec<Booking>> {
    Ok(my_bookings(conn, user, now, false, 500)
        .await?
        .into_iter()
        .map(|b| b.booking)
        .filter(|b| b.status.is_active())
        .collect())
}

/// The booking part of the page of session `id` in `society`, for `user` (or a visitor), in
/// one statement: the session's counts, the society's rules, the caller's membership, booking,
/// enrolment and ban. The caller has checked that they may read the society's calendar.
pub async fn session_booking(
    conn: &mut PgConnection,
    society: SocietyId,
    id: OccurrenceId,
    user: Option<UserId>,
    now: DateTime<Utc>,
) -> AppResult<SessionBooking> {
    let r = sqlx::query!(
        r#"select o.capacity, o.confirmed_count, o.waitlisted_count, o.starts_at as "starts_at: DateTime<Utc>",
                  o.status = 'cancelled' as "cancelled!", s.slug, s.time_zone as "time_zone: Zone",
                  to_jsonb(r) as "rules!: Json<BookingRules>",
                  case when e.weekdays is not null then e.id end as "series: EventId",
                  (select n.id from enrolments n where n.event_id = e.id and n.user_id = $3 and n.ended_at is null)
                      as "enrolment: EnrolmentId",
                  m.role as "role?: MembershipRole", m.status as "membership?: MembershipStatus",
                  exists (select 1 from occurrence_trainers where occurrence_id = o.id and trainer_id = $3)
                      as "teaches!",
                  mine.id as "mine_id?: BookingId", mine.status as "mine_status?: BookingStatus",
                  mine.position as "mine_position?",
                  ban.ends_at as "ban_ends_at?: DateTime<Utc>", ban.strikes as "ban_strikes?"
             from occurrences o
             join events e on e.id = o.event_id
             join societies s on s.id = o.society_id
             join booking_rules r on r.society_id = o.society_id
             left join memberships m on m.society_id = o.society_id and m.user_id = $3
             left join lateral (
                  select b.id, b.status,
                         case when b.status = 'waitlisted' then
                             (select count(*) from bookings w where w.occurrence_id = b.occurrence_id
                                 and w.status = 'waitlisted' and w.queue_number <= b.queue_number) end as position
                    from bookings b
                   where b.occurrence_id = o.id and b.user_id = $3 and b.status <> 'cancelled'
                   order by b.status in ('confirmed', 'waitlisted') desc, b.created_at desc
                   limit 1) mine on true
             left join lateral (
                  select ends_at, strikes from booking_bans
                   where society_id = o.society_id and user_id = $3 and lifted_at is null
                     and starts_at <= $4 and ends_at > $4
                   order by ends_at desc limit 1) ban on true
            where o.id = $1 and o.society_id = $2"#,
        id as OccurrenceId,
        society as SocietyId,
        user.map(|u| u.0),
        now as DateTime<Utc>,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let (rules, zone) = (r.rules.0, r.time_zone.0);
    let mine = match (r.mine_id, r.mine_status) {
        (Some(booking), Some(status)) => Some(Booking {
            id: booking,
            occurrence_id: id,
            status,
            waitlist_position: r.mine_position,
        }),
        _ => None,
    };
    let role = r
        .role
        .filter(|_| r.membership == Some(MembershipStatus::Approved));
    let ban = r.ban_ends_at.zip(r.ban_strikes);
    let cut = Cutoffs::of(&rules, zone, r.starts_at);
    let closed_reason = if r.cancelled {
        Some("This session is cancelled.".to_string())
    } else {
        cut.closed_reason(zone, now)
    };
    Ok(SessionBooking {
        occurrence_id: id,
        society_slug: r.slug,
        capacity: r.capacity,
        confirmed: r.confirmed_count,
        waitlisted: r.waitlisted_count,
        standing: standing_of(user, r.membership, ban, zone),
        mine,
        enrolment: r.enrolment,
        series: r.series,
        opens_local: local(zone, cut.opens_at),
        closes_local: local(zone, cut.closes_at),
        free_cancel_local: local(zone, cut.free_cancel_until),
        closed_reason,
        keeps_roster: (r.teaches && role.is_some()) || role == Some(MembershipRole::Admin),
        is_admin: role == Some(MembershipRole::Admin),
        checkin_qr: None,
    })
}
