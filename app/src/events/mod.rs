//! Events: what an admin sets up (one session, or a weekly series), its sessions (one
//! `occurrences` row each), the society's categories and who teaches what. Times are the
//! society's local time; instants are stored in UTC (see `series`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::access::MembershipRole;
use crate::bookings::{BookingStatus, SessionBooking};
use crate::error::AppError;
use crate::ids::{CategoryId, EventId, OccurrenceId, UserId};

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod ical;
#[cfg(feature = "ssr")]
pub mod series;

mod calendar;
mod feeds;
mod fns;
mod my_calendars;
mod views;

pub use crate::ui::when_text;
pub use calendar::{CalendarPage, CalendarView, Window};
pub use feeds::{get_calendar_feeds, reset_calendar_feed, CalendarFeedsPanel, FeedLink};
pub use fns::*;
pub use my_calendars::{my_calendars, MyCalendar, MyCalendarPage};
pub use views::{CategoriesPanel, MySessionsPage, NewEventPage, OccurrencePage};

/// Longest title of an event.
pub const MAX_TITLE_LEN: usize = 120;
/// Longest description of an event.
pub const MAX_DESCRIPTION_LEN: usize = 4000;
/// Longest location.
pub const MAX_LOCATION_LEN: usize = 200;
/// Longest reason for a cancellation.
pub const MAX_REASON_LEN: usize = 1000;
/// Longest category name.
pub const MAX_CATEGORY_LEN: usize = 50;
/// Most sessions one weekly series may have.
pub const MAX_SERIES_SESSIONS: usize = 300;
/// Most trainers on one session.
pub const MAX_TRAINERS: usize = 10;
/// Capacity of a session: at least 1, at most this.
pub const MAX_CAPACITY: i32 = 1000;
/// Sessions of a weekly series exist as rows this many weeks ahead.
pub const HORIZON_WEEKS: i64 = 26;
/// Shortest and longest session, in minutes.
pub const DURATION_RANGE: (i32, i32) = (5, 1440);

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "occurrence_status", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum OccurrenceStatus {
    Scheduled,
    Cancelled,
}

impl OccurrenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Cancelled => "cancelled",
        }
    }
}

/// How a weekly series ends: after a date (inclusive) or after a number of sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeriesEnd {
    Until(NaiveDate),
    Count(u32),
}

/// A weekly series: on these weekdays, every `interval` weeks, until `end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weekly {
    pub weekdays: Vec<Weekday>,
    pub interval: u8,
    pub end: SeriesEnd,
}

impl Weekly {
    /// "Every week on Tue, Thu until 2027-03-30", as the session page says it.
    pub fn describe(&self) -> String {
        let days = self
            .weekdays
            .iter()
            .map(|d| weekday_label(*d))
            .collect::<Vec<_>>()
            .join(", ");
        let every = match self.interval {
            1 => "Every week".to_string(),
            n => format!("Every {n} weeks"),
        };
        let end = match self.end {
            SeriesEnd::Until(date) => format!("until {}", date.format("%a %-d %b %Y")),
            SeriesEnd::Count(n) => format!("{n} times"),
        };
        format!("{every} on {days}, {end}")
    }
}

/// The short name of a weekday as forms and the API spell it: `MO` … `SU` (RFC 5545).
pub fn weekday_code(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

pub fn weekday_label(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}

pub const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

pub fn parse_weekday(code: &str) -> Option<Weekday> {
    WEEKDAYS
        .into_iter()
        .find(|d| weekday_code(*d).eq_ignore_ascii_case(code.trim()))
}

/// What every session of an event shares, and what each new session starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDetails {
    pub title: String,
    pub description: String,
    pub location: String,
    pub capacity: i32,
    pub duration_minutes: i32,
    pub category: Option<CategoryId>,
    pub trainers: Vec<UserId>,
}

/// A new event: its details and when its sessions are (local date and time in the society's
/// zone; one session, or a weekly series).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub details: EventDetails,
    pub start_date: NaiveDate,
    pub start_time: NaiveTime,
    pub weekly: Option<Weekly>,
}

/// What one session may have of its own: when, where, how many, who teaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OccurrenceChange {
    pub start_date: NaiveDate,
    pub start_time: NaiveTime,
    pub duration_minutes: i32,
    pub location: String,
    pub capacity: i32,
    pub trainers: Vec<UserId>,
}

/// Which sessions of a series a change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EditScope {
    /// This session only.
    One,
    /// This one and every later one: the series splits here.
    Following,
    /// Every session from now on.
    All,
}

impl EditScope {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "one" => Some(Self::One),
            "following" => Some(Self::Following),
            "all" => Some(Self::All),
            _ => None,
        }
    }
}

/// A change to a series (this and following, or all future sessions): the event's details
/// and its start time. Only what differs from the event as it was is applied to its sessions,
/// so a session changed on its own keeps what the change leaves alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesChange {
    pub details: EventDetails,
    pub start_time: NaiveTime,
}

/// A category of a society's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
}

/// A person who may teach in a society (approved trainers and admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trainer {
    pub id: UserId,
    pub name: String,
}

/// One session as the calendar shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OccurrenceSummary {
    pub id: OccurrenceId,
    pub event_id: EventId,
    pub title: String,
    pub category: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The start and end on the society's wall clock (what pages show).
    pub starts_local: NaiveDateTime,
    pub ends_local: NaiveDateTime,
    pub location: String,
    pub capacity: i32,
    /// Spots taken (walk-ins not counted) and people on the waitlist.
    pub confirmed: i32,
    pub waitlisted: i32,
    /// The viewer's active booking of it, if they have one.
    pub mine: Option<BookingStatus>,
    pub status: OccurrenceStatus,
    pub trainers: Vec<String>,
}

impl OccurrenceSummary {
    /// "3 spots left", "Full · 2 waiting": what the calendar shows.
    pub fn spots_text(&self) -> String {
        crate::ui::spots_text(self.capacity, self.confirmed, self.waitlisted)
    }
}

/// A new event and the sessions made for it (up to the horizon, in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedEvent {
    pub id: EventId,
    pub occurrence_ids: Vec<OccurrenceId>,
}

/// Everything about one session, for its page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OccurrenceDetail {
    pub summary: OccurrenceSummary,
    pub society_slug: String,
    pub time_zone: String,
    pub description: String,
    pub series_date: NaiveDate,
    pub cancel_reason: String,
    pub trainer_ids: Vec<UserId>,
    /// The event as it stands (what its sessions share).
    pub event: EventDetails,
    pub event_start_time: NaiveTime,
    pub weekly: Option<Weekly>,
    /// The caller's role in the society (None for visitors of a public calendar).
    pub viewer_role: Option<MembershipRole>,
    /// Spots, the caller's booking and what they may do.
    pub booking: SessionBooking,
}

/// A session a person teaches, with its society (the "My sessions" page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaughtSession {
    pub society_slug: String,
    pub society_name: String,
    pub time_zone: String,
    pub session: OccurrenceSummary,
    /// Today's and the next `OFFLINE_ROSTER_DAYS` days' sessions (the society's days): their
    /// rosters are kept on the trainer's device for use without a connection.
    pub keep_offline: bool,
}

/// How many days after today a trainer's rosters are kept on their device.
pub const OFFLINE_ROSTER_DAYS: i64 = 7;

/// A society's sessions in a window of time, with what the calendar page needs around them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    pub time_zone: String,
    pub sessions: Vec<OccurrenceSummary>,
    pub categories: Vec<Category>,
    pub trainers: Vec<Trainer>,
    pub viewer_role: Option<MembershipRole>,
    /// The caller's secret address for this society's feed (members of a society whose
    /// calendar is not public), or the public one.
    pub feed_path: Option<String>,
    /// The dates shown.
    pub window: Window,
    pub filter_category: Option<CategoryId>,
    pub filter_trainer: Option<UserId>,
}

/// The event form as a browser sends it: text fields, checked and parsed by `parse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventForm {
    pub title: String,
    pub description: String,
    pub location: String,
    pub capacity: String,
    pub duration_minutes: String,
    pub category: String,
    pub start_date: String,
    pub start_time: String,
    /// `once` or `weekly`.
    pub repeat: String,
    pub interval: String,
    /// `until` or `count`.
    pub ends: String,
    pub until: String,
    pub count: String,
}

/// Text fields of a form, parsed with a message that names the field.
pub fn parse_number(field: &str, text: &str, what: &str) -> Result<i32, AppError> {
    text.trim()
        .parse::<i32>()
        .map_err(|_| AppError::invalid(field, format!("Enter the {what} as a whole number.")))
}

pub fn parse_date(field: &str, text: &str) -> Result<NaiveDate, AppError> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::invalid(field, "Enter a date like 2026-03-31."))?;
    checked_date(field, date)
}

/// Years a session may be in: anything else is a typing mistake (and far-off dates would
/// overflow date arithmetic).
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// `date`, if its year is in `YEARS`.
pub fn checked_date(field: &str, date: NaiveDate) -> Result<NaiveDate, AppError> {
    use chrono::Datelike;
    if YEARS.contains(&date.year()) {
        Ok(date)
    } else {
        Err(AppError::invalid(
            field,
            format!(
                "Choose a date between {} and {}.",
                YEARS.start(),
                YEARS.end()
            ),
        ))
    }
}

pub fn parse_time(field: &str, text: &str) -> Result<NaiveTime, AppError> {
    let text = text.trim();
    NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .map_err(|_| AppError::invalid(field, "Enter a time like 18:30."))
}

/// A category id from a form (empty: none).
pub fn parse_category(text: &str) -> Result<Option<CategoryId>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    uuid::Uuid::parse_str(text)
        .map(|id| Some(CategoryId(id)))
        .map_err(|_| AppError::invalid("category", "Choose a category from the list."))
}

/// Trainer ids from a form or request; `field` names the field in the message.
pub fn parse_trainers(field: &str, ids: &[String]) -> Result<Vec<UserId>, AppError> {
    let mut trainers = Vec::new();
    for id in ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let id = uuid::Uuid::parse_str(id)
            .map(UserId)
            .map_err(|_| AppError::invalid(field, "Choose trainers from the list."))?;
        if !trainers.contains(&id) {
            trainers.push(id);
        }
    }
    Ok(trainers)
}

impl EventForm {
    /// The new event this form describes, or the first field that is wrong.
    pub fn parse(&self, weekdays: &[String], trainers: &[String]) -> Result<NewEvent, AppError> {
        let details = EventDetails {
            title: self.title.clone(),
            description: self.description.clone(),
            location: self.location.clone(),
            capacity: parse_number("capacity", &self.capacity, "number of spots")?,
            duration_minutes: parse_number("duration_minutes", &self.duration_minutes, "duration")?,
            category: parse_category(&self.category)?,
            trainers: parse_trainers("trainer_ids", trainers)?,
        };
        let start_date = parse_date("start_date", &self.start_date)?;
        let start_time = parse_time("start_time", &self.start_time)?;
        let weekly = match self.repeat.as_str() {
            "" | "once" => None,
            "weekly" => {
                let days = weekdays
                    .iter()
                    .map(|d| {
                        parse_weekday(d).ok_or_else(|| {
                            AppError::invalid("weekdays", "Choose weekdays from the list.")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if days.is_empty() {
                    return Err(AppError::invalid(
                        "weekdays",
                        "Choose at least one weekday for the series.",
                    ));
                }
                let interval = if self.interval.trim().is_empty() {
                    1
                } else {
                    parse_number("interval", &self.interval, "number of weeks")?
                };
                let end = match self.ends.as_str() {
                    "count" => SeriesEnd::Count(
                        u32::try_from(parse_number("count", &self.count, "number of sessions")?)
                            .map_err(|_| AppError::invalid("count", "Enter at least 1 session."))?,
                    ),
                    _ => SeriesEnd::Until(parse_date("until", &self.until)?),
                };
                Some(Weekly {
                    weekdays: days,
                    interval: u8::try_from(interval).unwrap_or(0),
                    end,
                })
            }
            _ => return Err(AppError::invalid("repeat", "Choose once or weekly.")),
        };
        let event = NewEvent {
            details,
            start_date,
            start_time,
            weekly,
        };
        event.validated()
    }
}

impl EventDetails {
    /// The trimmed details, or the first field that is wrong.
    pub fn validated(self) -> Result<Self, AppError> {
        printable("title", &self.title, false)?;
        printable("description", &self.description, true)?;
        let title = self.title.trim().to_string();
        if title.is_empty() || title.chars().count() > MAX_TITLE_LEN {
            return Err(AppError::invalid(
                "title",
                format!("Give the event a title of 1 to {MAX_TITLE_LEN} characters."),
            ));
        }
        let description = self.description.trim().to_string();
        if description.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(AppError::invalid(
                "description",
                format!("Please keep the description under {MAX_DESCRIPTION_LEN} characters."),
            ));
        }
        let location = checked_location(&self.location)?;
        checked_capacity(self.capacity)?;
        checked_duration(self.duration_minutes)?;
        checked_trainer_count(&self.trainers)?;
        Ok(Self {
            title,
            description,
            location,
            ..self
        })
    }
}

/// Refuses control characters (a NUL cannot even be stored); `lines` lets line breaks and
/// tabs through (descriptions and reasons).
pub(crate) fn printable(field: &str, text: &str, lines: bool) -> Result<(), AppError> {
    let bad = |c: char| c.is_control() && !(lines && matches!(c, '\n' | '\r' | '\t'));
    if text.chars().any(bad) {
        return Err(AppError::invalid(
            field,
            "Please remove the invisible control characters from this field.",
        ));
    }
    Ok(())
}

pub(crate) fn checked_location(location: &str) -> Result<String, AppError> {
    printable("location", location, false)?;
    let location = location.trim().to_string();
    if location.chars().count() > MAX_LOCATION_LEN {
        return Err(AppError::invalid(
            "location",
            format!("Please keep the location under {MAX_LOCATION_LEN} characters."),
        ));
    }
    Ok(location)
}

pub(crate) fn checked_capacity(capacity: i32) -> Result<(), AppError> {
    if !(1..=MAX_CAPACITY).contains(&capacity) {
        return Err(AppError::invalid(
            "capacity",
            format!("A session has between 1 and {MAX_CAPACITY} spots."),
        ));
    }
    Ok(())
}

pub(crate) fn checked_duration(minutes: i32) -> Result<(), AppError> {
    let (min, max) = DURATION_RANGE;
    if !(min..=max).contains(&minutes) {
        return Err(AppError::invalid(
            "duration_minutes",
            format!(
                "A session lasts between {min} minutes and {} hours.",
                max / 60
            ),
        ));
    }
    Ok(())
}

pub(crate) fn checked_trainer_count(trainers: &[UserId]) -> Result<(), AppError> {
    if trainers.len() > MAX_TRAINERS {
        return Err(AppError::invalid(
            "trainer_ids",
            format!("A session has at most {MAX_TRAINERS} trainers."),
        ));
    }
    Ok(())
}

impl NewEvent {
    /// The event with trimmed details and a well-formed series, or the first field that is
    /// wrong. (The number of sessions is checked on the server, which expands the rule.)
    pub fn validated(self) -> Result<Self, AppError> {
        let details = self.details.validated()?;
        checked_date("start_date", self.start_date)?;
        if let Some(SeriesEnd::Until(until)) = self.weekly.as_ref().map(|w| w.end) {
            checked_date("until", until)?;
        }
        if let Some(weekly) = &self.weekly {
            if weekly.weekdays.is_empty() {
                return Err(AppError::invalid(
                    "weekdays",
                    "Choose at least one weekday for the series.",
                ));
            }
            if !(1..=52).contains(&weekly.interval) {
                return Err(AppError::invalid("interval", "Repeat every 1 to 52 weeks."));
            }
            match weekly.end {
                SeriesEnd::Until(until) if until < self.start_date => {
                    return Err(AppError::invalid(
                        "until",
                        "The series must end on or after its first date.",
                    ))
                }
                SeriesEnd::Count(count) if count == 0 || count as usize > MAX_SERIES_SESSIONS => {
                    return Err(AppError::invalid(
                        "count",
                        format!("A series has 1 to {MAX_SERIES_SESSIONS} sessions."),
                    ))
                }
                _ => {}
            }
        }
        let mut weekly = self.weekly;
        if let Some(w) = weekly.as_mut() {
            w.weekdays.sort_by_key(|d| d.num_days_from_monday());
            w.weekdays.dedup();
        }
        Ok(Self {
            details,
            weekly,
            ..self
        })
    }
}

impl OccurrenceChange {
    pub fn validated(self) -> Result<Self, AppError> {
        checked_date("start_date", self.start_date)?;
        let location = checked_location(&self.location)?;
        checked_capacity(self.capacity)?;
        checked_duration(self.duration_minutes)?;
        checked_trainer_count(&self.trainers)?;
        Ok(Self { location, ..self })
    }
}

/// The cancellation reason, trimmed; it must say something.
pub fn checked_reason(reason: &str) -> Result<String, AppError> {
    printable("reason", reason, true)?;
    let reason = reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_LEN {
        return Err(AppError::invalid(
            "reason",
            format!("Say in 1 to {MAX_REASON_LEN} characters why the session is cancelled; the people coming will read it."),
        ));
    }
    Ok(reason)
}

/// A category name, trimmed.
pub fn checked_category_name(name: &str) -> Result<String, AppError> {
    printable("name", name, false)?;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_CATEGORY_LEN {
        return Err(AppError::invalid(
            "name",
            format!("Give the category a name of 1 to {MAX_CATEGORY_LEN} characters."),
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests;
