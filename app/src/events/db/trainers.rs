//! Who teaches a session. The database refuses a trainer on two overlapping sessions
//! (`occurrence_trainers_no_overlap`); `attach` turns that refusal into a message naming the
//! session that clashes. A change that moves sessions first `detach`es their trainers, moves
//! them, then attaches them again, so the check runs with the new times.

use chrono_tz::Tz;
use sqlx::PgConnection;

use super::constraint_message;
use crate::error::{AppError, AppResult};
use crate::ids::{OccurrenceId, SocietyId, UserId};

const NO_OVERLAP: &str = "occurrence_trainers_no_overlap";

/// Who teaches which session.
pub(crate) type Teaching = Vec<(OccurrenceId, UserId)>;

/// Every session of `sessions` with every one of `trainers`.
pub(crate) fn each(sessions: &[OccurrenceId], trainers: &[UserId]) -> Teaching {
    sessions
        .iter()
        .flat_map(|s| trainers.iter().map(move |t| (*s, *t)))
        .collect()
}

/// Takes the trainers off `sessions`; returns who taught what.
pub(crate) async fn detach(
    conn: &mut PgConnection,
    sessions: &[OccurrenceId],
) -> AppResult<Teaching> {
    let ids: Vec<uuid::Uuid> = sessions.iter().map(|o| o.0).collect();
    let rows = sqlx::query!(
        r#"delete from occurrence_trainers where occurrence_id = any($1)
           returning occurrence_id as "occurrence: OccurrenceId", trainer_id as "trainer: UserId""#,
        &ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.occurrence, r.trainer))
        .collect())
}

/// Puts the trainers on their sessions, in a savepoint: when one would be on two overlapping
/// sessions, none of it stays and the error names the session that clashes (as the caller's
/// society may see it).
pub(crate) async fn attach(
    conn: &mut PgConnection,
    society: SocietyId,
    zone: Tz,
    mut teaching: Teaching,
) -> AppResult<()> {
    if teaching.is_empty() {
        return Ok(());
    }
    // Always in the same order (by trainer, then session), so two admins assigning the same
    // trainers at once wait for each other instead of deadlocking.
    teaching.sort_by_key(|(o, t)| (t.0, o.0));
    let sessions: Vec<uuid::Uuid> = teaching.iter().map(|(o, _)| o.0).collect();
    let trainers: Vec<uuid::Uuid> = teaching.iter().map(|(_, t)| t.0).collect();
    let mut savepoint = sqlx::Connection::begin(&mut *conn).await?;
    let inserted = sqlx::query!(
        "insert into occurrence_trainers (occurrence_id, society_id, trainer_id)
         select o, $2, t from unnest($1::uuid[], $3::uuid[]) as p(o, t)",
        &sessions,
        society as SocietyId,
        &trainers,
    )
    .execute(&mut *savepoint)
    .await;
    match inserted {
        Ok(_) => {
            savepoint.commit().await?;
            Ok(())
        }
        Err(err) if is_overlap(&err) => {
            savepoint.rollback().await?;
            Err(clash(conn, society, zone, &sessions, &trainers).await?)
        }
        Err(err) if is_deadlock(&err) => {
            savepoint.rollback().await?;
            Err(AppError::Conflict(
                "Another change to these trainers happened at the same moment. Please try again."
                    .into(),
            ))
        }
        Err(err) => Err(AppError::from_db(err, constraint_message)),
    }
}

fn is_deadlock(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "40P01")
}

fn is_overlap(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.constraint())
        .is_some_and(|c| c == NO_OVERLAP)
}

/// What to tell the admin when a trainer would be on two sessions at once.
async fn clash(
    conn: &mut PgConnection,
    society: SocietyId,
    zone: Tz,
    sessions: &[uuid::Uuid],
    trainers: &[uuid::Uuid],
) -> AppResult<AppError> {
    let row = sqlx::query!(
        r#"select u.name as trainer, e.title, o.starts_at as "starts_at: chrono::DateTime<chrono::Utc>",
                  o.ends_at as "ends_at: chrono::DateTime<chrono::Utc>", o.society_id = $1 as "same_society!"
             from unnest($2::uuid[], $3::uuid[]) as p(occurrence_id, trainer_id)
             join occurrences target on target.id = p.occurrence_id and target.status = 'scheduled'
             join occurrence_trainers ot on ot.trainer_id = p.trainer_id and not ot.cancelled
                  and ot.during && tstzrange(target.starts_at, target.ends_at)
                  and ot.occurrence_id <> all($2)
             join occurrences o on o.id = ot.occurrence_id
             join events e on e.id = o.event_id
             join users u on u.id = ot.trainer_id
            order by o.starts_at
            limit 1"#,
        society as SocietyId,
        sessions,
        trainers,
    )
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(AppError::Conflict(
            "A trainer cannot teach two of these sessions: they overlap.".into(),
        ));
    };
    let local = |at| crate::wall::local(zone, at);
    let when = crate::events::when_text(local(row.starts_at), local(row.ends_at));
    Ok(AppError::Conflict(if row.same_society {
        format!(
            "{} already teaches “{}” at that time ({when}). Choose another trainer or time.",
            row.trainer, row.title
        )
    } else {
        // Nothing of the other society: not its name, its session, nor when exactly.
        format!(
            "{} is busy then. Choose another trainer or time.",
            row.trainer
        )
    }))
}
