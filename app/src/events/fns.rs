//! The server functions of events: each finds the caller, runs the access check (its proof in
//! hand) and calls the domain.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::access::{caller_in, lock_as_admin};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::ids::{CategoryId, EventId, OccurrenceId};

#[cfg(feature = "ssr")]
use super::{db, EditScope, EventDetails, OccurrenceChange, SeriesChange};
use super::{
    Calendar, Category, CreatedEvent, EventForm, OccurrenceDetail, TaughtSession, Trainer,
};
#[cfg(feature = "ssr")]
use crate::events::{parse_category, parse_date, parse_number, parse_time, parse_trainers};

/// What the event form offers: the society's categories and trainers, and its time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFormOptions {
    pub time_zone: String,
    pub categories: Vec<Category>,
    pub trainers: Vec<Trainer>,
}

/// An id from a URL or form: unknown shapes are simply not found.
#[cfg(feature = "ssr")]
fn parse_id(text: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(text.trim()).map_err(|_| AppError::NotFound)
}

/// The signed-in caller (if any), the state and the society, for what visitors may read.
#[cfg(feature = "ssr")]
async fn reader_in(
    slug: &str,
) -> Result<
    (
        crate::state::AppState,
        sqlx::pool::PoolConnection<sqlx::Postgres>,
        db::CalendarReader,
    ),
    AppError,
> {
    let place = crate::access::session::in_society(slug).await?;
    let reader = db::calendar_reader(&place)?;
    let state = crate::state::state()?;
    let conn = state.pool.acquire().await?;
    Ok((state, conn, reader))
}

/// Members (and everyone, for a public calendar): the society's sessions for a calendar
/// view. `view`, `date`, `category` and `trainer` come from the page's address; unknown
/// values fall back to the defaults.
#[server(endpoint = "calendar")]
pub async fn get_calendar(
    slug: String,
    view: Option<String>,
    date: Option<String>,
    category: Option<String>,
    trainer: Option<String>,
) -> Result<Calendar, AppError> {
    use super::calendar::Window;
    let (_state, mut conn, reader) = reader_in(&slug).await?;
    let today = chrono::Utc::now()
        .with_timezone(&reader.zone())
        .date_naive();
    let window = Window::new(view.as_deref(), date.as_deref(), today);
    let filter = db::SessionFilter {
        category: category
            .as_deref()
            .and_then(|c| uuid::Uuid::parse_str(c).ok())
            .map(CategoryId),
        trainer: trainer
            .as_deref()
            .and_then(|t| uuid::Uuid::parse_str(t).ok())
            .map(crate::ids::UserId),
    };
    let sessions = db::sessions(&mut conn, &reader, window.from, window.to, filter).await?;
    let (categories, trainers) = db::choices(&mut conn, reader.society()).await?;
    Ok(Calendar {
        time_zone: reader.zone().name().to_string(),
        sessions,
        categories,
        trainers,
        viewer_role: reader.role(),
        // Members of a private society find their secret address on their profile page.
        feed_path: if reader.public() {
            Some(format!("/s/{slug}/calendar.ics"))
        } else {
            reader.role().map(|_| "/me#calendar-feeds".to_string())
        },
        window,
        filter_category: filter.category,
        filter_trainer: filter.trainer,
    })
}

/// Members (and everyone, for a public calendar): one session, with what the caller may do.
#[server(endpoint = "occurrence")]
pub async fn get_occurrence(slug: String, id: String) -> Result<OccurrenceDetail, AppError> {
    let (state, mut conn, reader) = reader_in(&slug).await?;
    let mut detail = db::occurrence(&mut conn, &reader, OccurrenceId(parse_id(&id)?)).await?;
    let booking = &mut detail.booking;
    if let Some(mine) = booking
        .mine
        .as_ref()
        .filter(|b| b.status == crate::bookings::BookingStatus::Confirmed)
    {
        let code = crate::bookings::db::checkin_code(&state.settings.checkin_key, mine.id);
        booking.checkin_qr =
            crate::bookings::db::qr_svg(&format!("{}{code}", crate::bookings::db::CHECKIN_PREFIX));
    }
    Ok(detail)
}

/// Society admins: the categories and trainers the event forms offer.
#[server(endpoint = "event_form_options")]
pub async fn get_event_form_options(slug: String) -> Result<EventFormOptions, AppError> {
    let (_, state, place) = caller_in(&slug).await?;
    place.admin_reader()?;
    let mut conn = state.pool.acquire().await?;
    let (categories, trainers) = db::choices(&mut conn, place.society()).await?;
    Ok(EventFormOptions {
        time_zone: place.zone().name().to_string(),
        categories,
        trainers,
    })
}

/// Society admins: sets up an event (one session or a weekly series) and goes to its first
/// session.
#[server(endpoint = "create_event")]
#[tracing::instrument(skip_all)]
pub async fn create_event(
    slug: String,
    #[server(flatten)] form: EventForm,
    #[server(default)] weekdays: Vec<String>,
    #[server(default)] trainer_ids: Vec<String>,
) -> Result<CreatedEvent, AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let new = form.parse(&weekdays, &trainer_ids)?;
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    let created = db::create(&mut tx, &admin, new).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "event-created",
        format!(
            "Event set up with {}.",
            crate::ui::plural(created.occurrence_ids.len() as u32, "session")
        ),
    ));
    if let Some(first) = created.occurrence_ids.first() {
        leptos_axum::redirect(&format!("/s/{slug}/sessions/{}", first.0));
    }
    Ok(created)
}

/// The session form as a browser sends it (one session, or a series from it on).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionForm {
    pub title: String,
    pub description: String,
    pub category: String,
    /// For one session only: its new date.
    pub start_date: String,
    pub start_time: String,
    pub duration_minutes: String,
    pub location: String,
    pub capacity: String,
}

/// Society admins: changes one session (`scope` = `one`) or its series from it on
/// (`following`) or all its future sessions (`all`).
#[server(endpoint = "change_session")]
#[tracing::instrument(skip_all)]
pub async fn change_session(
    slug: String,
    id: String,
    scope: String,
    #[server(flatten)] form: SessionForm,
    #[server(default)] trainer_ids: Vec<String>,
) -> Result<(), AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let id = OccurrenceId(parse_id(&id)?);
    let scope = EditScope::parse(&scope)
        .ok_or_else(|| AppError::invalid("scope", "Choose which sessions to change."))?;
    let start_time = parse_time("start_time", &form.start_time)?;
    let duration_minutes = parse_number("duration_minutes", &form.duration_minutes, "duration")?;
    let capacity = parse_number("capacity", &form.capacity, "number of spots")?;
    let trainers = parse_trainers("trainer_ids", &trainer_ids)?;
    let SessionForm {
        title,
        description,
        category,
        start_date,
        location,
        ..
    } = form;
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    match scope {
        EditScope::One => {
            let change = OccurrenceChange {
                start_date: parse_date("start_date", &start_date)?,
                start_time,
                duration_minutes,
                location,
                capacity,
                trainers,
            };
            db::change_occurrence(&mut tx, &admin, id, change).await?;
        }
        EditScope::Following | EditScope::All => {
            let category = parse_category(&category)?;
            let change = SeriesChange {
                details: EventDetails {
                    title,
                    description,
                    location,
                    capacity,
                    duration_minutes,
                    category,
                    trainers,
                },
                start_time,
            };
            db::change_series(&mut tx, &admin, id, scope, change).await?;
        }
    }
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "session-changed",
        "Changes saved.",
    ));
    Ok(())
}

/// Society admins: cancels one session, with a reason its people will read.
#[server(endpoint = "cancel_session")]
#[tracing::instrument(skip_all)]
pub async fn cancel_session(slug: String, id: String, reason: String) -> Result<(), AppError> {
    let id = OccurrenceId(parse_id(&id)?);
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    db::cancel_occurrence(&mut tx, &admin, id, &reason).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "session-cancelled",
        "The session is cancelled.",
    ));
    Ok(())
}

/// Society admins: ends a weekly series after the date `until`.
#[server(endpoint = "end_series")]
#[tracing::instrument(skip_all)]
pub async fn end_event_series(slug: String, event: String, until: String) -> Result<u64, AppError> {
    let event = EventId(parse_id(&event)?);
    let until = parse_date("until", &until)?;
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    let removed = db::end_series(&mut tx, &admin, event, until).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "series-ended",
        format!(
            "The series now ends on {until}; {} removed.",
            crate::ui::plural(removed as u32, "later session")
        ),
    ));
    Ok(removed)
}

/// Society admins: deletes an event and all its sessions, then shows the calendar.
#[server(endpoint = "delete_event")]
#[tracing::instrument(skip_all)]
pub async fn delete_event(slug: String, event: String) -> Result<(), AppError> {
    let event = EventId(parse_id(&event)?);
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    db::delete_event(&mut tx, &admin, event).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "event-deleted",
        "The event is deleted.",
    ));
    leptos_axum::redirect(&format!("/s/{slug}/calendar"));
    Ok(())
}

/// Society admins: adds an event category.
#[server(endpoint = "create_category")]
#[tracing::instrument(skip_all)]
pub async fn create_category(slug: String, name: String) -> Result<Category, AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    let category = db::create_category(&mut tx, &admin, &name).await?;
    tx.commit().await?;
    Ok(category)
}

/// Society admins: removes an event category (its events keep going without one).
#[server(endpoint = "delete_category")]
#[tracing::instrument(skip_all)]
pub async fn delete_category(slug: String, id: String) -> Result<(), AppError> {
    let id = CategoryId(parse_id(&id)?);
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    db::delete_category(&mut tx, &admin, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Society admins: the society's categories (for the settings page).
#[server(endpoint = "list_categories")]
pub async fn list_categories(slug: String) -> Result<Vec<Category>, AppError> {
    let (_, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut conn = state.pool.acquire().await?;
    place.admin_reader()?;
    db::list_categories(&mut conn, society).await
}

/// Signed-in users: the sessions they teach from now on, in every society.
#[server(endpoint = "my_sessions")]
pub async fn my_sessions() -> Result<Vec<TaughtSession>, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    db::taught_by(&mut conn, me.id, chrono::Utc::now(), 200).await
}
