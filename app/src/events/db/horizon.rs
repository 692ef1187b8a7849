//! The horizon of weekly series: their sessions exist as rows `HORIZON_WEEKS` ahead, and this
//! extends them as time passes. Safe to run twice at once: each event is extended under its
//! row lock, and a series date that already has its session is skipped (`on conflict`).

use sqlx::PgPool;

use super::{horizon_date, lock_event};
use crate::error::{AppError, AppResult};
use crate::ids::{EventId, OccurrenceId, SocietyId};

/// Extends one series to the horizon, in a transaction of its own; returns the sessions made.
async fn extend_one(pool: &PgPool, society: SocietyId, id: EventId) -> AppResult<u64> {
    let mut tx = pool.begin().await?;
    let row = lock_event(&mut tx, society, id).await?;
    let zone = row.zone();
    let until = horizon_date(zone).min(row.last_date);
    if until <= row.generated_until {
        return Ok(0);
    }
    let dates = row
        .series()
        .dates_between(row.generated_until + chrono::Duration::days(1), until);
    let new = super::create::insert_sessions(&mut tx, &row, &dates).await?;
    let ids: Vec<uuid::Uuid> = new.iter().map(|o: &OccurrenceId| o.0).collect();
    // The event's trainers (those who still teach in the society) teach the new sessions; one
    // who meanwhile teaches elsewhere at that time is left off that session (the database
    // refuses the overlap).
    let assigned = sqlx::query!(
        "insert into occurrence_trainers (occurrence_id, society_id, trainer_id)
         select o, et.society_id, et.trainer_id
           from unnest($1::uuid[]) o
          cross join event_trainers et
           join memberships m on m.society_id = et.society_id and m.user_id = et.trainer_id
                             and m.status = 'approved' and m.role in ('trainer', 'admin')
          where et.event_id = $2
         on conflict do nothing",
        &ids,
        row.id as EventId,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update events set generated_until = $2 where id = $1",
        row.id as EventId,
        until as chrono::NaiveDate,
    )
    .execute(&mut *tx)
    .await?;
    // Members enrolled in the term get their booking in each new session.
    let booked =
        crate::bookings::db::enrol_new_sessions(&mut tx, society, row.id, &new, chrono::Utc::now())
            .await?;
    tx.commit().await?;
    tracing::info!(event = %row.id.0, sessions = new.len(), trainers = assigned.rows_affected(), booked, "series extended");
    Ok(new.len() as u64)
}

/// Extends every series whose sessions end before the horizon; returns how many sessions
/// were made. Each event is done in a transaction of its own.
#[tracing::instrument(skip_all)]
pub async fn extend_horizons(pool: &PgPool) -> AppResult<u64> {
    // The widest horizon of any zone (today + HORIZON_WEEKS, a day ahead of UTC at most).
    let widest = horizon_date(chrono_tz::Etc::GMTMinus14);
    let due = sqlx::query!(
        r#"select id as "id: EventId", society_id as "society_id: SocietyId" from events
            where generated_until < last_date and generated_until < $1"#,
        widest as chrono::NaiveDate,
    )
    .fetch_all(pool)
    .await?;
    let mut made = 0;
    for event in due {
        match extend_one(pool, event.society_id, event.id).await {
            Ok(n) => made += n,
            // Deleted meanwhile: nothing to extend.
            Err(AppError::NotFound) => {}
            // One event's trouble must not hold back the others.
            Err(e) => tracing::error!(event = %event.id.0, error = %e, "extending a series failed"),
        }
    }
    Ok(made)
}
