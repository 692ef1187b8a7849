//! What happened over a date range: fill and no-show rates per event and per member (admins),
//! and the attendance lines behind them (admins: every session; trainers: those they teach;
//! one session: its roster's keepers), for CSV exports.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::PgConnection;

use super::RosterKeeper;
use crate::access::{AdminReader, SocietyStaff};
use crate::bookings::{Attendance, AttendanceLine, BookingStatus, EventStats, MemberStats, Report};
use crate::error::{AppError, AppResult};
use crate::ids::{EventId, OccurrenceId, SocietyId, UserId};
use crate::wall::{local, local_instant};

/// The longest range a report covers.
pub const MAX_REPORT_DAYS: i64 = 366;

/// The instants of local dates `from` through `to` (inclusive) in the society's zone; refuses
/// a range that ends before it starts or is longer than a year.
async fn range(
    conn: &mut PgConnection,
    society: SocietyId,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<(chrono_tz::Tz, DateTime<Utc>, DateTime<Utc>)> {
    if to < from {
        return Err(AppError::invalid(
            "to",
            "The last date comes after the first.",
        ));
    }
    if (to - from).num_days() >= MAX_REPORT_DAYS {
        return Err(AppError::invalid(
            "to",
            format!("A report covers at most {MAX_REPORT_DAYS} days."),
        ));
    }
    let (_, zone) = super::rules_and_zone(conn, society).await?;
    let start = local_instant(zone, from.and_time(NaiveTime::MIN));
    let end = local_instant(
        zone,
        (to + chrono::Duration::days(1)).and_time(NaiveTime::MIN),
    );
    Ok((zone, start, end))
}

fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Society admins: per event and per member, the sessions held (not cancelled) from `from`
/// through `to`: spots, bookings, walk-ins, attendance and no-shows, with the rates.
pub async fn report(
    conn: &mut PgConnection,
    admin: &AdminReader,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Report> {
    let (_, start, end) = range(&mut *conn, admin.society(), from, to).await?;
    let events = sqlx::query!(
        r#"with s as (
               select o.id, o.event_id, o.capacity,
                      count(b.id) filter (where b.status = 'confirmed' and not b.walk_in) as booked,
                      count(b.id) filter (where b.status = 'confirmed' and b.walk_in) as walk_ins,
                      count(b.id) filter (where b.attendance in ('present', 'late')) as attended,
                      count(b.id) filter (where b.attendance = 'absent') as no_shows
                 from occurrences o left join bookings b on b.occurrence_id = o.id
                where o.society_id = $1 and o.status = 'scheduled' and o.starts_at >= $2 and o.starts_at < $3
                group by o.id)
           select e.id as "id: EventId", e.title, count(*) as "sessions!",
                  sum(s.capacity)::bigint as "capacity!", sum(s.booked)::bigint as "booked!",
                  sum(s.walk_ins)::bigint as "walk_ins!", sum(s.attended)::bigint as "attended!",
                  sum(s.no_shows)::bigint as "no_shows!"
             from s join events e on e.id = s.event_id
            group by e.id, e.title
            order by lower(e.title), e.id"#,
        admin.society() as SocietyId,
        start as DateTime<Utc>,
        end as DateTime<Utc>,
    )
    .fetch_all(&mut *conn)
    .await?;
    let members = sqlx::query!(
        r#"select u.id as "id: UserId", u.name, u.email,
                  count(*) filter (where b.status = 'confirmed') as "booked!",
                  count(*) filter (where b.attendance in ('present', 'late')) as "attended!",
                  count(*) filter (where b.attendance = 'absent') as "no_shows!",
                  count(*) filter (where b.status = 'cancelled' and b.late) as "late_cancellations!"
             from bookings b
             join occurrences o on o.id = b.occurrence_id
             join users u on u.id = b.user_id
            where b.society_id = $1 and o.status = 'scheduled' and o.starts_at >= $2 and o.starts_at < $3
            group by u.id, u.name, u.email
            order by lower(u.name), u.id"#,
        admin.society() as SocietyId,
        start as DateTime<Utc>,
        end as DateTime<Utc>,
    )
    .fetch_all(conn)
    .await?;
    Ok(Report {
        from,
        to,
        events: events
            .into_iter()
            .map(|r| EventStats {
                event_id: r.id,
                title: r.title,
                sessions: r.sessions,
                capacity: r.capacity,
                booked: r.booked,
                walk_ins: r.walk_ins,
                attended: r.attended,
                no_shows: r.no_shows,
                fill_rate: rate(r.booked, r.capacity),
                no_show_rate: rate(r.no_shows, r.attended + r.no_shows),
            })
            .collect(),
        members: members
            .into_iter()
            .map(|r| MemberStats {
                user_id: r.id,
                name: r.name,
                email: r.email,
                booked: r.booked,
                attended: r.attended,
                no_shows: r.no_shows,
                late_cancellations: r.late_cancellations,
                no_show_rate: rate(r.no_shows, r.attended + r.no_shows),
            })
            .collect(),
    })
}

/// The attendance lines of `society`'s sessions from `start` to `end`, of one session or of
/// the sessions one trainer teaches when given; with email addresses when `emails` (admins).
async fn lines(
    conn: &mut PgConnection,
    society: SocietyId,
    zone: chrono_tz::Tz,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    occurrence: Option<OccurrenceId>,
    trainer: Option<UserId>,
    emails: bool,
) -> AppResult<Vec<AttendanceLine>> {
    let (start, end) = window.unzip();
    let rows = sqlx::query!(
        r#"select o.starts_at as "starts_at: DateTime<Utc>", e.title, u.name, u.email,
                  b.status as "status: BookingStatus", b.walk_in, b.late,
                  b.enrolment_id is not null as "enrolled!", b.attendance as "attendance: Attendance", b.note
             from bookings b
             join occurrences o on o.id = b.occurrence_id
             join events e on e.id = o.event_id
             join users u on u.id = b.user_id
            where b.society_id = $1 and o.status = 'scheduled'
              and ($2::timestamptz is null or o.starts_at >= $2)
              and ($3::timestamptz is null or o.starts_at < $3)
              and ($4::uuid is null or o.id = $4)
              and ($5::uuid is null or exists (select 1 from occurrence_trainers ot
                                                where ot.occurrence_id = o.id and ot.trainer_id = $5))
            order by o.starts_at, lower(e.title), o.id, b.status, lower(u.name), b.id"#,
        society as SocietyId,
        start as Option<DateTime<Utc>>,
        end as Option<DateTime<Utc>>,
        occurrence.map(|o| o.0),
        trainer.map(|t| t.0),
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AttendanceLine {
            starts_local: local(zone, r.starts_at),
            title: r.title,
            name: r.name,
            email: emails.then_some(r.email),
            status: r.status,
            walk_in: r.walk_in,
            late: r.late,
            enrolled: r.enrolled,
            attendance: r.attendance,
            note: r.note,
        })
        .collect())
}

/// The roster's keeper: every booking of the session, for its CSV export.
pub async fn session_lines(
    conn: &mut PgConnection,
    keeper: &RosterKeeper,
) -> AppResult<Vec<AttendanceLine>> {
    let (_, zone) = super::rules_and_zone(&mut *conn, keeper.society()).await?;
    lines(
        conn,
        keeper.society(),
        zone,
        None,
        Some(keeper.occurrence()),
        None,
        keeper.is_admin(),
    )
    .await
}

/// Trainers and admins: the bookings of sessions from `from` through `to`, for a CSV export
/// (admins: every session of the society; trainers: the sessions they teach).
pub async fn range_lines(
    conn: &mut PgConnection,
    staff: &SocietyStaff,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<AttendanceLine>> {
    let (zone, start, end) = range(&mut *conn, staff.society(), from, to).await?;
    let trainer = (!staff.is_admin()).then(|| staff.user());
    lines(
        conn,
        staff.society(),
        zone,
        Some((start, end)),
        None,
        trainer,
        staff.is_admin(),
    )
    .await
}
