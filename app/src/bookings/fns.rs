//! The server functions of bookings: each finds the caller, runs the access check (its proof
//! in hand) and calls the domain in one transaction.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{BanEntry, Booking, BookingRules, Cancellation, Enrolment, MyBooking, Report, Roster};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::ids::{BookingId, EnrolmentId, EventId, OccurrenceId, UserId};

#[cfg(feature = "ssr")]
use super::db;

/// An id from a URL or form: unknown shapes are simply not found.
#[cfg(feature = "ssr")]
fn parse_id(text: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(text.trim()).map_err(|_| AppError::NotFound)
}

#[cfg(feature = "ssr")]
fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The caller, the state and the roster proof for session `id` of society `slug`.
#[cfg(feature = "ssr")]
async fn keeper_of(
    slug: &str,
    id: &str,
) -> Result<
    (
        crate::state::AppState,
        sqlx::pool::PoolConnection<sqlx::Postgres>,
        db::RosterKeeper,
    ),
    AppError,
> {
    let id = OccurrenceId(parse_id(id)?);
    let (_, state, place) = crate::access::caller_in(slug).await?;
    let staff = place.staff()?;
    let mut conn = state.pool.acquire().await?;
    let keeper = db::keeper_among(&mut conn, &staff, id).await?;
    Ok((state, conn, keeper))
}

/// What booking a session said, for the page that reloads.
#[cfg(feature = "ssr")]
fn booked_text(booking: &Booking) -> String {
    match booking.waitlist_position {
        Some(n) => format!("The session is full: you are number {n} on the waitlist. We will tell you when a spot frees."),
        None => "You have a spot. See you there!".into(),
    }
}

/// Approved members: books a spot in session `id`, or a waitlist place when it is full.
#[server(endpoint = "book_session")]
#[tracing::instrument(skip_all)]
pub async fn book_session(slug: String, id: String) -> Result<Booking, AppError> {
    let id = OccurrenceId(parse_id(&id)?);
    let (me, state, place) = crate::access::caller_in(&slug).await?;
    let society = place.society();
    let _turn = state.gates.enter(id.0).await?;
    let booked = async {
        let mut tx = state.pool.begin().await?;
        let booker = db::lock_booker(&mut tx, society, me.id, now()).await?;
        let booking = db::book(&mut tx, &booker, id, now()).await?;
        tx.commit().await?;
        Ok(booking)
    }
    .await;
    let booking = db::counted(booked)?;
    crate::ui::flash(crate::ui::Flash::notice("booked", booked_text(&booking)));
    Ok(booking)
}

/// The booking's owner: cancels it (a spot or a waitlist place).
#[server(endpoint = "cancel_booking")]
#[tracing::instrument(skip_all)]
pub async fn cancel_booking(id: String) -> Result<Cancellation, AppError> {
    let id = BookingId(parse_id(&id)?);
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut tx = state.pool.begin().await?;
    let cancelled = db::cancel(&mut tx, me.id, id, now()).await?;
    tx.commit().await?;
    db::count_cancelled();
    crate::ui::flash(crate::ui::Flash::notice(
        "booking-cancelled",
        if cancelled.late {
            "Booking cancelled. Free cancellation had ended, so this counts as a strike."
        } else {
            "Booking cancelled."
        },
    ));
    Ok(cancelled)
}

/// The owner of a term booking: will not come to this one session (the enrolment stays).
#[server(endpoint = "excuse_booking")]
#[tracing::instrument(skip_all)]
pub async fn excuse_booking(id: String) -> Result<Cancellation, AppError> {
    let id = BookingId(parse_id(&id)?);
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut tx = state.pool.begin().await?;
    let excused = db::excuse(&mut tx, me.id, id, now()).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "booking-excused",
        if excused.late {
            "Marked absent for this session; your term stays. Free cancellation had ended, so this counts as a strike."
        } else {
            "Marked absent for this session; your term stays."
        },
    ));
    Ok(excused)
}

/// Approved members: enrol in the weekly series `event` up to `until` (a date, or empty for
/// the whole series).
#[server(endpoint = "enrol_in_series")]
#[tracing::instrument(skip_all)]
pub async fn enrol_in_series(
    slug: String,
    event: String,
    #[server(default)] until: String,
) -> Result<Enrolment, AppError> {
    let event = EventId(parse_id(&event)?);
    let until = match until.trim() {
        "" => None,
        text => Some(parse_day("until", text)?),
    };
    let (me, state, place) = crate::access::caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let booker = db::lock_booker(&mut tx, society, me.id, now()).await?;
    let enrolment = db::enrol(&mut tx, &booker, event, until, now()).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "enrolled",
        format!(
            "Enrolled: a spot in {}{}.",
            crate::ui::plural(enrolment.confirmed, "session"),
            if enrolment.waitlisted > 0 {
                format!(
                    ", the waitlist of {}",
                    crate::ui::plural(enrolment.waitlisted, "full session")
                )
            } else {
                String::new()
            }
        ),
    ));
    Ok(enrolment)
}

/// The enrolled member: ends their term enrolment; its bookings still to come are cancelled.
#[server(endpoint = "end_enrolment")]
#[tracing::instrument(skip_all)]
pub async fn end_enrolment(id: String) -> Result<u32, AppError> {
    let id = EnrolmentId(parse_id(&id)?);
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut tx = state.pool.begin().await?;
    let cancelled = db::end_enrolment(&mut tx, me.id, id, now()).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "enrolment-ended",
        format!(
            "Enrolment ended; {} cancelled.",
            crate::ui::plural(cancelled, "booking")
        ),
    ));
    Ok(cancelled)
}

/// "My bookings": the signed-in user's bookings to come and (separately) their past ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyBookings {
    pub upcoming: Vec<MyBooking>,
    pub past: Vec<MyBooking>,
}

/// Signed-in users: their bookings in every society.
#[server(endpoint = "my_bookings")]
pub async fn get_my_bookings() -> Result<MyBookings, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    Ok(MyBookings {
        upcoming: db::my_bookings(&mut conn, me.id, now(), false, 200).await?,
        past: db::my_bookings(&mut conn, me.id, now(), true, 50).await?,
    })
}

/// The session's trainers and the society's admins: its roster.
#[server(endpoint = "roster")]
pub async fn get_roster(slug: String, id: String) -> Result<Roster, AppError> {
    let (_state, mut conn, keeper) = keeper_of(&slug, &id).await?;
    db::roster(&mut conn, &keeper, now()).await
}

/// The roster's keeper: records one person's attendance (`state` present, late, absent, or
/// empty to clear it).
#[server(endpoint = "mark_attendance")]
#[tracing::instrument(skip_all)]
pub async fn mark_attendance(
    slug: String,
    id: String,
    user: String,
    state: String,
) -> Result<(), AppError> {
    let member = UserId(parse_id(&user)?);
    let attendance = match state.trim() {
        "" => None,
        text => Some(
            super::Attendance::parse(text)
                .ok_or_else(|| AppError::invalid("state", "Choose present, late or absent."))?,
        ),
    };
    let (app, _conn, keeper) = keeper_of(&slug, &id).await?;
    let mut tx = app.pool.begin().await?;
    db::mark_attendance(&mut tx, &keeper, member, attendance, None, now()).await?;
    tx.commit().await?;
    Ok(())
}

/// The roster's keeper: adds a walk-in (an approved member, by email or name).
#[server(endpoint = "add_walk_in")]
#[tracing::instrument(skip_all)]
pub async fn add_walk_in(slug: String, id: String, who: String) -> Result<(), AppError> {
    let (app, _conn, keeper) = keeper_of(&slug, &id).await?;
    let mut tx = app.pool.begin().await?;
    db::add_walk_in(&mut tx, &keeper, &who, now()).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice("walk-in-added", "Walk-in added."));
    Ok(())
}

/// The roster's keeper: a note on one booking.
#[server(endpoint = "set_booking_note")]
#[tracing::instrument(skip_all)]
pub async fn set_booking_note(
    slug: String,
    id: String,
    booking: String,
    note: String,
) -> Result<(), AppError> {
    let booking = BookingId(parse_id(&booking)?);
    let (_app, mut conn, keeper) = keeper_of(&slug, &id).await?;
    db::set_note(&mut conn, &keeper, booking, &note).await
}

/// Society admins: books a member (by email or name) into session `id`, with a reason.
#[server(endpoint = "add_booking")]
#[tracing::instrument(skip_all)]
pub async fn add_booking(
    slug: String,
    id: String,
    who: String,
    reason: String,
) -> Result<Booking, AppError> {
    let id = OccurrenceId(parse_id(&id)?);
    let (me, state, place) = crate::access::caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = crate::access::lock_as_admin(&mut tx, society, me.id).await?;
    let (member, _) = db::find_member(&mut tx, society, &who).await?;
    let booking = db::add_for(&mut tx, &admin, id, member, &reason, now()).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "booking-added",
        match booking.waitlist_position {
            Some(n) => format!("The session is full: added to the waitlist at number {n}."),
            None => "Booking added.".into(),
        },
    ));
    Ok(booking)
}

/// Society admins: removes a booking, with a reason the member reads.
#[server(endpoint = "remove_booking")]
#[tracing::instrument(skip_all)]
pub async fn remove_booking(
    slug: String,
    booking: String,
    reason: String,
) -> Result<Cancellation, AppError> {
    let booking = BookingId(parse_id(&booking)?);
    let (me, state, place) = crate::access::caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = crate::access::lock_as_admin(&mut tx, society, me.id).await?;
    let removed = db::remove(&mut tx, &admin, booking, &reason, now()).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "booking-removed",
        "Booking removed.",
    ));
    Ok(removed)
}

/// The settings page's booking panel: the rules and who is banned now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingSettings {
    pub rules: BookingRules,
    pub bans: Vec<BanEntry>,
}

/// Society admins: the fair-use rules and the current bans.
#[server(endpoint = "booking_settings")]
pub async fn get_booking_settings(slug: String) -> Result<BookingSettings, AppError> {
    let (_, state, place) = crate::access::caller_in(&slug).await?;
    let society = place.society();
    let mut conn = state.pool.acquire().await?;
    let admin = place.admin_reader()?;
    Ok(BookingSettings {
        rules: db::rules(&mut conn, society).await?,
        bans: db::bans(&mut conn, &admin, now()).await?,
    })
}

/// The rules form as a browser sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RulesForm {
    pub opens_days: String,
    pub closes_minutes: String,
    pub free_cancel_hours: String,
    pub strike_limit: String,
    pub strike_window_days: String,
    pub ban_days: String,
    pub max_active: String,
    pub max_per_week: String,
    pub first_reminder_hours: String,
    pub second_reminder_hours: String,
}

impl RulesForm {
    /// The rules the form names; a field that is not a whole number is refused by name.
    pub fn parse(&self) -> Result<BookingRules, AppError> {
        use super::parse_count as n;
        Ok(BookingRules {
            opens_days: n("opens_days", &self.opens_days)?,
            closes_minutes: n("closes_minutes", &self.closes_minutes)?,
            free_cancel_hours: n("free_cancel_hours", &self.free_cancel_hours)?,
            strike_limit: n("strike_limit", &self.strike_limit)?,
            strike_window_days: n("strike_window_days", &self.strike_window_days)?,
            ban_days: n("ban_days", &self.ban_days)?,
            max_active: n("max_active", &self.max_active)?,
            max_per_week: n("max_per_week", &self.max_per_week)?,
            first_reminder_hours: n("first_reminder_hours", &self.first_reminder_hours)?,
            second_reminder_hours: n("second_reminder_hours", &self.second_reminder_hours)?,
        })
    }
}

/// Society admins: changes the fair-use rules.
#[server(endpoint = "update_booking_rules")]
#[tracing::instrument(skip_all)]
pub async fn update_booking_rules(
    slug: String,
    #[server(flatten)] form: RulesForm,
) -> Result<(), AppError> {
    let rules = form.parse()?;
    let (me, state, place) = crate::access::caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = crate::access::lock_as_admin(&mut tx, society, me.id).await?;
    db::update_rules(&mut tx, &admin, rules).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "rules-saved",
        "Booking rules saved.",
    ));
    Ok(())
}

/// Society admins: lifts a member's booking ban.
#[server(endpoint = "lift_booking_ban")]
#[tracing::instrument(skip_all)]
pub async fn lift_booking_ban(slug: String, user: String) -> Result<(), AppError> {
    let member = UserId(parse_id(&user)?);
    let (me, state, place) = crate::access::caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = crate::access::lock_as_admin(&mut tx, society, me.id).await?;
    db::lift_ban(&mut tx, &admin, member, now()).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice("ban-lifted", "Ban lifted."));
    Ok(())
}

/// A date from a form or address (`YYYY-MM-DD`), or a message naming the field.
#[cfg(feature = "ssr")]
pub fn parse_day(field: &str, text: &str) -> Result<chrono::NaiveDate, AppError> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (1900..=2200).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| AppError::invalid(field, "Enter a date like 2026-12-24."))
}

/// Society admins: fill and no-show rates per event and per member from `from` through `to`
/// (the last 30 days when left empty).
#[server(endpoint = "booking_report")]
pub async fn get_report(
    slug: String,
    #[server(default)] from: String,
    #[server(default)] to: String,
) -> Result<Report, AppError> {
    let (_, state, place) = crate::access::caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    let admin = place.admin_reader()?;
    let today = chrono::Utc::now().date_naive();
    let to = match to.trim() {
        "" => today,
        text => parse_day("to", text)?,
    };
    let from = match from.trim() {
        "" => to - chrono::Duration::days(29),
        text => parse_day("from", text)?,
    };
    db::report(&mut conn, &admin, from, to).await
}
