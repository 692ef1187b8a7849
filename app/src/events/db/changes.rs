//! Changing what is set up: one session, a series from a session on (it splits) or all its
//! future sessions; cancelling a session; ending a series early; deleting an event. Every
//! change is audited; people who should hear of a cancellation get an outbox row in the same
//! transaction.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::PgConnection;

use super::create::set_event_trainers;
use super::{check_trainers, constraint_message, lock_event, trainers, wall_date, EventRow};
use crate::access::SocietyAdmin;
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::events::{
    checked_reason, EditScope, OccurrenceChange, OccurrenceStatus, SeriesChange, SeriesEnd,
};
use crate::ids::{EventId, OccurrenceId, SocietyId, UserId};
use crate::notifications::NotificationKind;
use crate::wall::{local, local_instant};

/// A session as stored.
struct OccurrenceRow {
    series_date: NaiveDate,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    location: String,
    capacity: i32,
    status: OccurrenceStatus,
}

/// The session `id` of the admin's society and its event, both locked (event first, in the
/// lock order); `NotFound` for other societies' ids.
async fn lock_occurrence(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: OccurrenceId,
) -> AppResult<(EventRow, OccurrenceRow)> {
    let event = sqlx::query_scalar!(
        r#"select event_id as "event_id: EventId" from occurrences where id = $1 and society_id = $2"#,
        id as OccurrenceId,
        admin.society() as SocietyId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let event = lock_event(conn, admin.society(), event).await?;
    let occurrence = sqlx::query_as!(
        OccurrenceRow,
        r#"select series_date as "series_date: NaiveDate",
                  starts_at as "starts_at: DateTime<Utc>", ends_at as "ends_at: DateTime<Utc>",
                  location, capacity, status as "status: OccurrenceStatus"
             from occurrences where id = $1 and event_id = $2 for update"#,
        id as OccurrenceId,
        event.id as EventId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok((event, occurrence))
}

fn refuse_cancelled(occurrence: &OccurrenceRow) -> AppResult<()> {
    if occurrence.status == OccurrenceStatus::Cancelled {
        return Err(AppError::Conflict(
            "This session is cancelled, so it cannot be changed.".into(),
        ));
    }
    Ok(())
}

fn same_people(a: &[UserId], b: &[UserId]) -> bool {
    let mut a: Vec<_> = a.iter().map(|u| u.0).collect();
    let mut b: Vec<_> = b.iter().map(|u| u.0).collect();
    a.sort();
    b.sort();
    a == b
}

/// Society admins: changes one session's time, place, spots or trainers. The rest of its
/// series stays as it is.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, occurrence = %id.0))]
pub async fn change_occurrence(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: OccurrenceId,
    change: OccurrenceChange,
) -> AppResult<()> {
    let change = change.validated()?;
    let (event, old) = lock_occurrence(conn, admin, id).await?;
    refuse_cancelled(&old)?;
    check_trainers(conn, admin.society(), &change.trainers).await?;
    let zone = event.zone();
    let starts_at = local_instant(zone, change.start_date.and_time(change.start_time));
    let ends_at = starts_at + Duration::minutes(change.duration_minutes.into());
    let old_trainers: Vec<UserId> = trainers::detach(conn, &[id])
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    sqlx::query!(
        "update occurrences set starts_at = $2, ends_at = $3, location = $4, capacity = $5,
                sequence = sequence + 1, updated_at = now()
          where id = $1",
        id as OccurrenceId,
        starts_at as DateTime<Utc>,
        ends_at as DateTime<Utc>,
        change.location,
        change.capacity,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message))?;
    trainers::attach(
        conn,
        admin.society(),
        zone,
        trainers::each(&[id], &change.trainers),
    )
    .await?;
    if change.capacity > old.capacity {
        crate::bookings::db::after_capacity_change(&mut *conn, admin, &[id], Utc::now()).await?;
    }
    if starts_at != old.starts_at || change.location != old.location {
        notify_moved(conn, admin.society(), id, old.starts_at, &change.location).await?;
    }
    let mut changes = serde_json::Map::new();
    let mut note = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            changes.insert(field.into(), serde_json::json!({ "from": from, "to": to }));
        }
    };
    let at = |t: DateTime<Utc>| local(zone, t).format("%Y-%m-%d %H:%M").to_string();
    note("starts", at(old.starts_at).into(), at(starts_at).into());
    note("ends", at(old.ends_at).into(), at(ends_at).into());
    note("location", old.location.into(), change.location.into());
    note("capacity", old.capacity.into(), change.capacity.into());
    note(
        "trainers",
        serde_json::json!(old_trainers),
        serde_json::json!(change.trainers),
    );
    super::audit(&mut *conn, admin, AuditAction::OccurrenceChanged, id.0, {
        changes.insert("title".into(), event.title.clone().into());
        serde_json::Value::Object(changes)
    })
    .await?;
    Ok(())
}

/// Outbox rows of `kind` for each trainer and each member with a spot or a waitlist place in
/// these sessions (those still to come), with the session's id, title and start and `extra`.
async fn notify_people_of(
    conn: &mut PgConnection,
    society: SocietyId,
    occurrences: &[uuid::Uuid],
    kind: NotificationKind,
    extra: serde_json::Value,
) -> AppResult<usize> {
    let rows = sqlx::query!(
        r#"select p.person as "person!: UserId", o.id, e.title,
                  o.starts_at as "starts_at: DateTime<Utc>"
             from (select occurrence_id, trainer_id as person from occurrence_trainers
                    where occurrence_id = any($1)
                   union
                   select occurrence_id, user_id from bookings
                    where occurrence_id = any($1) and status in ('confirmed', 'waitlisted')) p
             join occurrences o on o.id = p.occurrence_id
             join events e on e.id = o.event_id
            where o.starts_at > now()"#,
        occurrences,
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let mut payload = serde_json::json!({
            "occurrence_id": row.id,
            "title": row.title,
            "starts_at": row.starts_at,
        });
        if let (Some(map), serde_json::Value::Object(more)) = (payload.as_object_mut(), &extra) {
            map.extend(more.clone());
        }
        crate::notifications::db::enqueue(&mut *conn, society, row.person, kind, payload).await?;
    }
    Ok(rows.len())
}

/// Tells the people of session `id` that it moved from `was_starts_at` (or to another place).
async fn notify_moved(
    conn: &mut PgConnection,
    society: SocietyId,
    id: OccurrenceId,
    was_starts_at: DateTime<Utc>,
    location: &str,
) -> AppResult<usize> {
    let extra = serde_json::json!({ "was_starts_at": was_starts_at, "location": location });
    notify_people_of(
        conn,
        society,
        &[id.0],
        NotificationKind::OccurrenceMoved,
        extra,
    )
    .await
}

/// Tells the people of these sessions (those not cancelled before) that they are cancelled,
/// with `reason`.
async fn notify_cancelled(
    conn: &mut PgConnection,
    society: SocietyId,
    occurrences: &[uuid::Uuid],
    reason: &str,
) -> AppResult<usize> {
    let extra = serde_json::json!({ "reason": reason });
    notify_people_of(
        conn,
        society,
        occurrences,
        NotificationKind::OccurrenceCancelled,
        extra,
    )
    .await
}

/// Society admins: cancels one session with a reason people will read. It stays on the
/// calendar, struck through; its trainers are told (outbox, same transaction).
#[tracing::instrument(skip_all, fields(society = %admin.society().0, occurrence = %id.0))]
pub async fn cancel_occurrence(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: OccurrenceId,
    reason: &str,
) -> AppResult<()> {
    let reason = checked_reason(reason)?;
    let (event, occurrence) = lock_occurrence(conn, admin, id).await?;
    if occurrence.status == OccurrenceStatus::Cancelled {
        return Err(AppError::Conflict(
            "This session is already cancelled.".into(),
        ));
    }
    // Told before the status changes: the trainers of a session still scheduled.
    notify_cancelled(conn, admin.society(), &[id.0], &reason).await?;
    sqlx::query!(
        "update occurrences set status = 'cancelled', cancel_reason = $2, cancelled_at = now(),
                cancelled_by = $3, sequence = sequence + 1, updated_at = now()
          where id = $1",
        id as OccurrenceId,
        reason,
        admin.user() as UserId,
    )
    .execute(&mut *conn)
    .await?;
    super::audit(
        &mut *conn,
        admin,
        AuditAction::OccurrenceCancelled,
        id.0,
        serde_json::json!({
            "title": event.title,
            "starts": local(event.zone(), occurrence.starts_at).format("%Y-%m-%d %H:%M").to_string(),
            "reason": reason,
        }),
    )
    .await?;
    Ok(())
}

/// Society admins: changes a series from the session `id` on (`Following`: the series splits
/// there, earlier sessions keep the old details) or all its sessions still to come (`All`).
/// Only what differs from the event as it was reaches the sessions, so a session changed on
/// its own keeps what this change leaves alone. Cancelled sessions stay cancelled.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, occurrence = %id.0))]
pub async fn change_series(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: OccurrenceId,
    scope: EditScope,
    change: SeriesChange,
) -> AppResult<EventId> {
    let details = change.details.validated()?;
    let (event, chosen) = lock_occurrence(conn, admin, id).await?;
    check_trainers(conn, admin.society(), &details.trainers).await?;
    let old_trainers = sqlx::query_scalar!(
        r#"select trainer_id as "id: UserId" from event_trainers where event_id = $1"#,
        event.id as EventId,
    )
    .fetch_all(&mut *conn)
    .await?;
    let earlier = event
        .series()
        .dates()
        .into_iter()
        .filter(|d| *d < chosen.series_date)
        .count();
    let split = scope == EditScope::Following && earlier > 0;
    let target = if split {
        split_series(conn, admin, &event, chosen.series_date, earlier).await?
    } else {
        event.id
    };
    let updated = sqlx::query!(
        "update events set title = $2, description = $3, location = $4, capacity = $5,
                duration_minutes = $6, category_id = $7, start_time = $8, updated_at = now()
          where id = $1",
        target as EventId,
        details.title,
        details.description,
        details.location,
        details.capacity,
        details.duration_minutes,
        details.category.map(|c| c.0),
        change.start_time as chrono::NaiveTime,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message));
    updated?;
    let trainers_changed = !same_people(&old_trainers, &details.trainers);
    if trainers_changed {
        set_event_trainers(conn, admin.society(), target, &details.trainers).await?;
    }
    // The sessions this change is for.
    let sessions = sqlx::query!(
        r#"select id as "id: OccurrenceId", starts_at as "starts_at: DateTime<Utc>",
                  ends_at as "ends_at: DateTime<Utc>"
             from occurrences
            where event_id = $1 and status = 'scheduled'
              and starts_at >= now() and (not $2 or series_date >= $3)
            order by starts_at"#,
        target as EventId,
        scope == EditScope::Following,
        chosen.series_date as NaiveDate,
    )
    .fetch_all(&mut *conn)
    .await?;
    let zone = event.zone();
    let time_changed = change.start_time != event.start_time;
    let duration_changed = details.duration_minutes != event.duration_minutes;
    let ids: Vec<uuid::Uuid> = sessions.iter().map(|s| s.id.0).collect();
    let session_ids: Vec<OccurrenceId> = sessions.iter().map(|s| s.id).collect();
    // Off while the sessions move; back on (the new trainers, or each session's own) after.
    let teaching = trainers::detach(conn, &session_ids).await?;
    let mut starts = Vec::with_capacity(sessions.len());
    let mut ends = Vec::with_capacity(sessions.len());
    for s in &sessions {
        let start = if time_changed {
            local_instant(
                zone,
                wall_date(zone, s.starts_at).and_time(change.start_time),
            )
        } else {
            s.starts_at
        };
        let length = if duration_changed {
            Duration::minutes(details.duration_minutes.into())
        } else {
            s.ends_at - s.starts_at
        };
        starts.push(start);
        ends.push(start + length);
    }
    sqlx::query!(
        "update occurrences o set
                starts_at = t.s, ends_at = t.e,
                location = case when $4 then $5 else o.location end,
                capacity = case when $6 then $7 else o.capacity end,
                sequence = o.sequence + 1, updated_at = now()
           from unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) as t(id, s, e)
          where o.id = t.id",
        &ids,
        &starts as &[DateTime<Utc>],
        &ends as &[DateTime<Utc>],
        details.location != event.location,
        details.location,
        details.capacity != event.capacity,
        details.capacity,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message))?;
    let teaching = if trainers_changed {
        trainers::each(&session_ids, &details.trainers)
    } else {
        teaching
    };
    trainers::attach(conn, admin.society(), zone, teaching).await?;
    if details.capacity > event.capacity {
        crate::bookings::db::after_capacity_change(&mut *conn, admin, &session_ids, Utc::now())
            .await?;
    }
    super::audit(
        &mut *conn,
        admin,
        AuditAction::EventChanged,
        target.0,
        serde_json::json!({
            "scope": if scope == EditScope::Following { "following" } else { "all" },
            "from_date": chosen.series_date,
            "title": details.title,
            "split_from": split.then(|| event.id.0.to_string()),
            "sessions": session_ids.len(),
            "start_time": time_changed.then(|| change.start_time.format("%H:%M").to_string()),
            "duration_minutes": duration_changed.then_some(details.duration_minutes),
            "location": (details.location != event.location).then(|| details.location.clone()),
            "capacity": (details.capacity != event.capacity).then_some(details.capacity),
            "trainers_changed": trainers_changed,
        }),
    )
    .await?;
    Ok(target)
}

/// Splits `event` at `from`: a new event (the same series from that date on, with what is
/// left of a counted series) takes over the sessions from `from`; the old one ends the series
/// date before. Returns the new event.
async fn split_series(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    event: &EventRow,
    from: NaiveDate,
    earlier: usize,
) -> AppResult<EventId> {
    let count = event.count.map(|c| c - earlier as i32);
    let last_before = event
        .series()
        .dates()
        .into_iter()
        .rfind(|d| *d < from)
        .unwrap_or(event.start_date);
    let new = sqlx::query_scalar!(
        r#"insert into events (society_id, title, description, location, capacity, duration_minutes,
                               category_id, time_zone, start_date, start_time, weekdays, interval_weeks,
                               until_date, count, last_date, generated_until, created_by)
           select society_id, title, description, location, capacity, duration_minutes, category_id,
                  time_zone, $2, start_time, weekdays, interval_weeks, until_date, $3, last_date,
                  greatest(generated_until, $2), $4
             from events where id = $1
           returning id as "id: EventId""#,
        event.id as EventId,
        from as NaiveDate,
        count,
        admin.user() as UserId,
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into event_trainers (event_id, society_id, trainer_id)
         select $2, society_id, trainer_id from event_trainers where event_id = $1",
        event.id as EventId,
        new as EventId,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "update occurrences set event_id = $2 where event_id = $1 and series_date >= $3",
        event.id as EventId,
        new as EventId,
        from as NaiveDate,
    )
    .execute(&mut *conn)
    .await?;
    // Term enrolments go on with the sessions still to come (and those the horizon adds).
    sqlx::query!(
        "update enrolments set event_id = $2 where event_id = $1 and ended_at is null",
        event.id as EventId,
        new as EventId,
    )
    .execute(&mut *conn)
    .await?;
    end_on(conn, event.id, last_before).await?;
    Ok(new)
}

/// Makes `last` the series' last date (an until-series from now on), with no rows beyond it.
async fn end_on(conn: &mut PgConnection, event: EventId, last: NaiveDate) -> AppResult<()> {
    sqlx::query!(
        "update events set until_date = $2, count = null, last_date = $2,
                generated_until = least(generated_until, $2), updated_at = now()
          where id = $1",
        event as EventId,
        last as NaiveDate,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Society admins: ends a weekly series after `last` (its last series date is then on or
/// before it); the sessions after it are removed and their trainers told.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, event = %id.0))]
pub async fn end_series(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: EventId,
    last: NaiveDate,
) -> AppResult<u64> {
    let event = lock_event(conn, admin.society(), id).await?;
    let today = chrono::Utc::now().with_timezone(&event.zone()).date_naive();
    if last < today - chrono::Duration::days(1) {
        return Err(AppError::invalid(
            "until",
            "A series can end today or later; sessions already held stay as they were.",
        ));
    }
    let Some(weekly) = event.weekly() else {
        return Err(AppError::invalid(
            "until",
            "A single session has no series to end: cancel it or delete the event.",
        ));
    };
    let Some(last_date) = event.series().dates().into_iter().rfind(|d| *d <= last) else {
        return Err(AppError::invalid(
            "until",
            "That is before the series' first session: delete the event instead.",
        ));
    };
    // A session that has started, or whose attendance was taken, is history: it stays, and
    // the series then ends with the last of those at the earliest.
    let now = chrono::Utc::now();
    let kept_until: Option<NaiveDate> = sqlx::query_scalar!(
        r#"select max(o.series_date) as "last: NaiveDate" from occurrences o
          where o.event_id = $1 and o.series_date > $2
            and (o.starts_at <= $3
                 or exists (select 1 from bookings b where b.occurrence_id = o.id and b.attendance is not null))"#,
        id as EventId,
        last as NaiveDate,
        now as DateTime<Utc>,
    )
    .fetch_one(&mut *conn)
    .await?;
    let removed: Vec<uuid::Uuid> = sqlx::query_scalar!(
        "select id from occurrences o
          where o.event_id = $1 and o.series_date > $2 and o.status = 'scheduled' and o.starts_at > $3
            and not exists (select 1 from bookings b where b.occurrence_id = o.id and b.attendance is not null)",
        id as EventId,
        last as NaiveDate,
        now as DateTime<Utc>,
    )
    .fetch_all(&mut *conn)
    .await?;
    notify_cancelled(conn, admin.society(), &removed, "The series ends earlier.").await?;
    let deleted = sqlx::query!(
        "delete from occurrences o
          where o.event_id = $1 and o.series_date > $2 and o.starts_at > $3
            and not exists (select 1 from bookings b where b.occurrence_id = o.id and b.attendance is not null)",
        id as EventId,
        last as NaiveDate,
        now as DateTime<Utc>,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let last_date = kept_until.map_or(last_date, |kept| kept.max(last_date));
    end_on(conn, id, last_date).await?;
    let was = match weekly.end {
        SeriesEnd::Until(d) => d.to_string(),
        SeriesEnd::Count(n) => format!("{n} sessions"),
    };
    super::audit(
        &mut *conn,
        admin,
        AuditAction::EventSeriesEnded,
        id.0,
        serde_json::json!({ "title": event.title, "was": was, "last_date": last_date, "sessions_removed": deleted }),
    )
    .await?;
    Ok(deleted)
}

/// Society admins: deletes an event with all its sessions; the trainers of those still to come
/// are told.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, event = %id.0))]
pub async fn delete_event(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: EventId,
) -> AppResult<()> {
    let event = lock_event(conn, admin.society(), id).await?;
    let booked = sqlx::query_scalar!(
        r#"select exists (select 1 from bookings b join occurrences o on o.id = b.occurrence_id
                           where o.event_id = $1) as "booked!""#,
        id as EventId,
    )
    .fetch_one(&mut *conn)
    .await?;
    if booked {
        return Err(AppError::Conflict(
            "People have booked this event, and their bookings and attendance are its history. Cancel its sessions or end the series instead.".into(),
        ));
    }
    let coming: Vec<uuid::Uuid> = sqlx::query_scalar!(
        "select id from occurrences where event_id = $1 and status = 'scheduled'",
        id as EventId,
    )
    .fetch_all(&mut *conn)
    .await?;
    notify_cancelled(conn, admin.society(), &coming, "The event was removed.").await?;
    sqlx::query!("delete from events where id = $1", id as EventId)
        .execute(&mut *conn)
        .await?;
    super::audit(
        &mut *conn,
        admin,
        AuditAction::EventDeleted,
        id.0,
        serde_json::json!({ "title": event.title, "sessions": coming.len() }),
    )
    .await?;
    Ok(())
}
