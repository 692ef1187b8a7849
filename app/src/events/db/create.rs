//! Setting up an event and making its sessions.

use chrono::{Duration, NaiveDate};
use sqlx::PgConnection;

use super::{check_trainers, checked_dates, constraint_message, horizon_date, weekday_numbers};
use super::{trainers, EventRow};
use crate::access::SocietyAdmin;
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::events::series::Series;
use crate::events::{CreatedEvent, NewEvent, SeriesEnd};
use crate::ids::{EventId, OccurrenceId, SocietyId, UserId};

/// Society admins: sets up an event in the society's time zone and makes its sessions as far
/// as the horizon (at least the first), with their trainers; audited.
#[tracing::instrument(skip_all, fields(society = %admin.society().0))]
pub async fn create(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    new: NewEvent,
) -> AppResult<CreatedEvent> {
    let new = new.validated()?;
    let society = admin.society();
    let zone = super::society_time_zone(conn, society).await?;
    check_trainers(conn, society, &new.details.trainers).await?;
    let series = Series {
        time_zone: zone,
        start_date: new.start_date,
        start_time: new.start_time,
        weekly: new.weekly.clone(),
    };
    let dates = checked_dates(&series)?;
    let last_date = *dates.last().unwrap_or(&new.start_date);
    let generated_until = horizon_date(zone).max(dates[0]).min(last_date);
    let (weekdays, interval, until, count) = match &new.weekly {
        Some(w) => {
            let (until, count) = match w.end {
                SeriesEnd::Until(d) => (Some(d), None),
                SeriesEnd::Count(n) => (None, Some(n as i32)),
            };
            (
                Some(weekday_numbers(w)),
                Some(i16::from(w.interval)),
                until,
                count,
            )
        }
        None => (None, None, None, None),
    };
    let d = &new.details;
    let event = sqlx::query_scalar!(
        r#"insert into events (society_id, title, description, location, capacity, duration_minutes,
                               category_id, time_zone, start_date, start_time, weekdays, interval_weeks,
                               until_date, count, last_date, generated_until, created_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
           returning id as "id: EventId""#,
        society as SocietyId,
        d.title,
        d.description,
        d.location,
        d.capacity,
        d.duration_minutes,
        d.category.map(|c| c.0),
        zone.name(),
        new.start_date as NaiveDate,
        new.start_time as chrono::NaiveTime,
        weekdays.as_deref(),
        interval,
        until as Option<NaiveDate>,
        count,
        last_date as NaiveDate,
        generated_until as NaiveDate,
        admin.user() as UserId,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message))?;
    set_event_trainers(conn, society, event, &d.trainers).await?;
    let row = super::lock_event(conn, society, event).await?;
    let dates: Vec<NaiveDate> = dates
        .into_iter()
        .filter(|d| *d <= generated_until)
        .collect();
    let occurrence_ids = insert_sessions(conn, &row, &dates).await?;
    trainers::attach(
        conn,
        society,
        zone,
        trainers::each(&occurrence_ids, &d.trainers),
    )
    .await?;
    super::audit(
        &mut *conn,
        admin,
        AuditAction::EventCreated,
        event.0,
        serde_json::json!({
            "title": d.title,
            "start": format!("{} {}", new.start_date, new.start_time.format("%H:%M")),
            "schedule": new.weekly.as_ref().map(|w| w.describe()),
            "sessions": occurrence_ids.len(),
        }),
    )
    .await?;
    Ok(CreatedEvent {
        id: event,
        occurrence_ids,
    })
}

/// Makes `trainers` the trainers each new session of `event` starts with.
pub(crate) async fn set_event_trainers(
    conn: &mut PgConnection,
    society: SocietyId,
    event: EventId,
    trainers: &[UserId],
) -> AppResult<()> {
    let ids: Vec<uuid::Uuid> = trainers.iter().map(|t| t.0).collect();
    sqlx::query!(
        "delete from event_trainers where event_id = $1",
        event as EventId
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into event_trainers (event_id, society_id, trainer_id) select $1, $2, unnest($3::uuid[])",
        event as EventId,
        society as SocietyId,
        &ids,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message))?;
    Ok(())
}

/// Inserts the sessions of `event` on `dates` with the event's location and capacity; a date
/// that already has its session is left alone (so running twice makes nothing twice). Returns
/// the new sessions' ids, in date order.
pub(crate) async fn insert_sessions(
    conn: &mut PgConnection,
    event: &EventRow,
    dates: &[NaiveDate],
) -> AppResult<Vec<OccurrenceId>> {
    if dates.is_empty() {
        return Ok(Vec::new());
    }
    let series = event.series();
    let length = Duration::minutes(event.duration_minutes.into());
    let starts: Vec<_> = dates.iter().map(|d| series.starts_at(*d)).collect();
    let ends: Vec<_> = starts.iter().map(|s| *s + length).collect();
    let ids = sqlx::query_scalar!(
        r#"insert into occurrences (society_id, event_id, series_date, starts_at, ends_at, location, capacity)
           select $1, $2, d, s, e, $6, $7
             from unnest($3::date[], $4::timestamptz[], $5::timestamptz[]) as t(d, s, e)
           on conflict on constraint occurrences_series_date_key do nothing
           returning id as "id: OccurrenceId""#,
        event.society_id as SocietyId,
        event.id as EventId,
        dates as &[NaiveDate],
        &starts as &[chrono::DateTime<chrono::Utc>],
        &ends as &[chrono::DateTime<chrono::Utc>],
        event.location,
        event.capacity,
    )
    .fetch_all(&mut *conn)
    .await?;
    // `returning` gives the inserted rows in insertion order, which is date order.
    Ok(ids)
}
