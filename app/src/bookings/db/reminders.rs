//! The booking side of the scheduled jobs: reminders before a session and the end of a ban.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;

use crate::error::AppResult;
use crate::ids::{SocietyId, UserId};
use crate::notifications::NotificationKind;
use crate::wall::{local, local_instant, Zone};

/// When the reminder `hours` before a session that starts at `starts_at` is due: a whole
/// number of days is the same wall-clock time that many days earlier in `zone` (so "24 h" is
/// "the day before at the same time", also across a DST change); other offsets are hours.
pub fn reminder_due(zone: Tz, starts_at: DateTime<Utc>, hours: i32) -> DateTime<Utc> {
    if hours > 0 && hours % 24 == 0 {
        let local_start = local(zone, starts_at);
        local_instant(zone, local_start - Duration::days(i64::from(hours / 24)))
    } else {
        starts_at - Duration::hours(i64::from(hours))
    }
}

/// Queues the reminders due at `now` (scheduled job `sessions.reminders`): for each confirmed
/// booking of a scheduled session that has not started, each of its society's reminder
/// offsets whose due time has come, once (the outbox's dedupe key names the booking, the
/// offset and the start time, so a moved session gets a reminder for its new time). A booking
/// made after a reminder was due does not get that one. Returns how many it queued.
#[tracing::instrument(skip_all)]
pub async fn queue_reminders(pool: &PgPool, now: DateTime<Utc>) -> AppResult<u32> {
    let rows = sqlx::query!(
        r#"select b.id, b.user_id as "user: UserId", b.society_id as "society: SocietyId",
                  b.confirmed_at as "confirmed_at!: DateTime<Utc>", o.id as occurrence_id,
                  o.starts_at as "starts_at: DateTime<Utc>", e.title,
                  s.time_zone as "time_zone: Zone", r.first_reminder_hours, r.second_reminder_hours
             from occurrences o
             join booking_rules r on r.society_id = o.society_id
             join bookings b on b.occurrence_id = o.id and b.status = 'confirmed'
             join events e on e.id = o.event_id
             join societies s on s.id = o.society_id
            where o.status = 'scheduled' and o.starts_at > $1
              and o.starts_at <= $1 + make_interval(hours => greatest(r.first_reminder_hours, r.second_reminder_hours) + 2)
              and (r.first_reminder_hours > 0 or r.second_reminder_hours > 0)"#,
        now as DateTime<Utc>,
    )
    .fetch_all(pool)
    .await?;
    let mut queued = 0;
    let mut tx = pool.begin().await?;
    for row in rows {
        let zone = row.time_zone.0;
        for hours in [row.first_reminder_hours, row.second_reminder_hours] {
            if hours <= 0 {
                continue;
            }
            let due = reminder_due(zone, row.starts_at, hours);
            if due > now || row.confirmed_at > due {
                continue;
            }
            let key = format!("reminder:{}:{hours}:{}", row.id, row.starts_at.timestamp());
            let payload = serde_json::json!({
                "occurrence_id": row.occurrence_id,
                "booking_id": row.id,
                "title": row.title,
                "starts_at": row.starts_at,
                "hours": hours,
            });
            let added = crate::notifications::db::enqueue_once(
                &mut tx,
                row.society,
                row.user,
                NotificationKind::BookingReminder,
                payload,
                &key,
            )
            .await?;
            queued += u32::from(added);
        }
    }
    tx.commit().await?;
    Ok(queued)
}

/// Tells members whose booking ban ended (in the last day, not lifted early) that they can
/// book again, once per ban (scheduled job `bans.expire`). Returns how many it told.
#[tracing::instrument(skip_all)]
pub async fn announce_ended_bans(pool: &PgPool, now: DateTime<Utc>) -> AppResult<u32> {
    let rows = sqlx::query!(
        r#"select id, society_id as "society: SocietyId", user_id as "user: UserId",
                  ends_at as "ends_at: DateTime<Utc>"
             from booking_bans
            where lifted_at is null and ends_at <= $1 and ends_at > $1 - interval '1 day'"#,
        now as DateTime<Utc>,
    )
    .fetch_all(pool)
    .await?;
    let mut told = 0;
    let mut tx = pool.begin().await?;
    for row in rows {
        let added = crate::notifications::db::enqueue_once(
            &mut tx,
            row.society,
            row.user,
            NotificationKind::BookingBanEnded,
            serde_json::json!({ "ended_at": row.ends_at }),
            &format!("ban-ended:{}", row.id),
        )
        .await?;
        told += u32::from(added);
    }
    tx.commit().await?;
    Ok(told)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_day_before_is_the_same_wall_clock_time_across_dst() {
        let berlin = chrono_tz::Europe::Berlin;
        // Monday 26 Oct 2026, 18:00 CET (DST ended on Sunday 25 Oct).
        let start = Utc.with_ymd_and_hms(2026, 10, 26, 17, 0, 0).unwrap();
        let due = reminder_due(berlin, start, 24);
        // Sunday 18:00 CET; 24 real hours before would be Sunday 18:00 too (after the change).
        assert_eq!(due, Utc.with_ymd_and_hms(2026, 10, 25, 17, 0, 0).unwrap());
        // Sunday 25 Oct 18:00 CET: the day before is Saturday 18:00 CEST = 16:00 UTC, 25 real
        // hours earlier.
        let start = Utc.with_ymd_and_hms(2026, 10, 25, 17, 0, 0).unwrap();
        assert_eq!(
            reminder_due(berlin, start, 24),
            Utc.with_ymd_and_hms(2026, 10, 24, 16, 0, 0).unwrap()
        );
        assert_eq!(
            reminder_due(berlin, start, 2),
            Utc.with_ymd_and_hms(2026, 10, 25, 15, 0, 0).unwrap()
        );
        // 29 March 2026 (DST starts): the day before 10:00 CEST is 10:00 CET, 23 h earlier.
        let start = Utc.with_ymd_and_hms(2026, 3, 29, 8, 0, 0).unwrap();
        assert_eq!(
            reminder_due(berlin, start, 24),
            Utc.with_ymd_and_hms(2026, 3, 28, 9, 0, 0).unwrap()
        );
    }
}
