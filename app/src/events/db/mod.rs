//! Event rows and their rules: creating events and their sessions, changing and cancelling
//! them, the horizon of weekly series, categories, and who may read a society's calendar.
//!
//! Lock order (see `access`): the society row (`lock_as_admin`), then the event row, then its
//! sessions. The horizon job takes only event rows, so it never waits on a society.

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use sqlx::PgConnection;

use super::series::Series;
use super::{SeriesEnd, Weekly, MAX_SERIES_SESSIONS};
use crate::error::{AppError, AppResult};
use crate::ids::{EventId, SocietyId, UserId};
use crate::wall::Zone;

mod categories;
mod changes;
mod create;
mod feeds;
mod horizon;
mod read;
mod trainers;

pub use crate::events::CreatedEvent;
pub use categories::{create_category, delete_category, list_categories};
pub use changes::{cancel_occurrence, change_occurrence, change_series, delete_event, end_series};
pub use create::create;
pub use feeds::{
    feed_by_token, feed_societies, feeds_made, new_feed_token, public_feed, FeedSociety,
};
pub use horizon::extend_horizons;
pub use read::{
    calendar_reader, choices, occurrence, sessions, society_of, taught_by, CalendarReader,
    SessionFilter,
};

/// The event constraints a caller's input can violate, with what they are told.
pub(crate) fn constraint_message(name: &str) -> Option<AppError> {
    Some(match name {
        "events_category_fkey" => {
            AppError::invalid("category", "Choose one of this society's categories.")
        }
        "event_trainers_member_fkey" | "occurrence_trainers_member_fkey" => AppError::invalid(
            "trainer_ids",
            "Every trainer must be a trainer of this society.",
        ),
        "event_categories_name_key" => {
            AppError::invalid("name", "The society already has a category of this name.")
        }
        "events_title_length" => AppError::invalid("title", "Give the event a title."),
        "events_capacity_range" | "occurrences_capacity_range" => AppError::invalid(
            "capacity",
            format!("A session has between 1 and {} spots.", super::MAX_CAPACITY),
        ),
        "occurrences_time_order" => {
            AppError::invalid("duration_minutes", "A session must end after it starts.")
        }
        _ => return None,
    })
}

/// Records an admin's change to `subject` (an event, session or category) in the society's
/// audit log, in the caller's transaction.
pub(crate) async fn audit(
    conn: &mut PgConnection,
    admin: &crate::access::SocietyAdmin,
    action: crate::audit::AuditAction,
    subject: uuid::Uuid,
    details: serde_json::Value,
) -> AppResult<()> {
    crate::audit::record(
        conn,
        Some(admin.society()),
        admin.user(),
        action,
        Some(subject.to_string()),
        details,
    )
    .await
}

/// An event as stored, with its series.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub id: EventId,
    pub society_id: SocietyId,
    pub title: String,
    pub location: String,
    pub capacity: i32,
    pub duration_minutes: i32,
    pub time_zone: Zone,
    pub start_date: NaiveDate,
    pub start_time: NaiveTime,
    pub weekdays: Option<Vec<i16>>,
    pub interval_weeks: Option<i16>,
    pub until_date: Option<NaiveDate>,
    pub count: Option<i32>,
    pub last_date: NaiveDate,
    pub generated_until: NaiveDate,
}

impl EventRow {
    pub fn zone(&self) -> Tz {
        self.time_zone.0
    }

    pub fn weekly(&self) -> Option<Weekly> {
        weekly_from(
            self.weekdays.as_deref(),
            self.interval_weeks,
            self.until_date,
            self.count,
        )
    }

    pub fn series(&self) -> Series {
        Series {
            time_zone: self.zone(),
            start_date: self.start_date,
            start_time: self.start_time,
            weekly: self.weekly(),
        }
    }
}

/// The weekly rule the `weekdays`, `interval_weeks`, `until_date` and `count` columns hold
/// (`None` for a single session).
pub(crate) fn weekly_from(
    weekdays: Option<&[i16]>,
    interval_weeks: Option<i16>,
    until_date: Option<NaiveDate>,
    count: Option<i32>,
) -> Option<Weekly> {
    let days = weekdays?;
    let end = match (until_date, count) {
        (Some(until), _) => SeriesEnd::Until(until),
        (None, Some(count)) => SeriesEnd::Count(u32::try_from(count).ok()?),
        (None, None) => return None,
    };
    Some(Weekly {
        weekdays: days
            .iter()
            .filter_map(|d| chrono::Weekday::try_from(u8::try_from(*d - 1).ok()?).ok())
            .collect(),
        interval: u8::try_from(interval_weeks.unwrap_or(1)).unwrap_or(1),
        end,
    })
}

/// ISO weekday numbers (1 = Monday) as the `weekdays` column keeps them.
pub(crate) fn weekday_numbers(weekly: &Weekly) -> Vec<i16> {
    weekly
        .weekdays
        .iter()
        .map(|d| d.number_from_monday() as i16)
        .collect()
}

/// Loads the event `id` of `society`, locking it (`for no key update`) until the transaction
/// ends; `NotFound` when the society has no such event.
pub(crate) async fn lock_event(
    conn: &mut PgConnection,
    society: SocietyId,
    id: EventId,
) -> AppResult<EventRow> {
    sqlx::query_as!(
        EventRow,
        r#"select id as "id: EventId", society_id as "society_id: SocietyId", title,
                  location, capacity, duration_minutes, time_zone as "time_zone: Zone", start_date as "start_date: NaiveDate", start_time as "start_time: NaiveTime",
                  weekdays, interval_weeks, until_date as "until_date: NaiveDate", count,
                  last_date as "last_date: NaiveDate", generated_until as "generated_until: NaiveDate"
             from events where id = $1 and society_id = $2 for no key update"#,
        id as EventId,
        society as SocietyId,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)
}

/// The series dates of `series`, refusing a series with no sessions or too many.
pub(crate) fn checked_dates(series: &Series) -> AppResult<Vec<NaiveDate>> {
    let dates = series.dates();
    if dates.is_empty() {
        return Err(AppError::invalid(
            "weekdays",
            "This series has no sessions: no chosen weekday falls between its first and last date.",
        ));
    }
    if dates.len() > MAX_SERIES_SESSIONS {
        let field = match series.weekly.as_ref().map(|w| w.end) {
            Some(SeriesEnd::Count(_)) => "count",
            _ => "until",
        };
        return Err(AppError::invalid(
            field,
            format!("A series has at most {MAX_SERIES_SESSIONS} sessions; end this one sooner."),
        ));
    }
    Ok(dates)
}

/// The IANA zone a society's events are planned in.
pub async fn society_time_zone(conn: &mut PgConnection, society: SocietyId) -> AppResult<Tz> {
    let zone = sqlx::query_scalar!(
        r#"select time_zone as "time_zone: Zone" from societies where id = $1"#,
        society as SocietyId
    )
    .fetch_one(conn)
    .await?;
    Ok(zone.0)
}

/// The local date today in `zone`, plus the horizon: how far ahead sessions exist as rows.
pub(crate) fn horizon_date(zone: Tz) -> NaiveDate {
    chrono::Utc::now().with_timezone(&zone).date_naive()
        + chrono::Duration::weeks(super::HORIZON_WEEKS)
}

/// The people of `society` a session may name as trainers: approved trainers and admins.
/// Refuses anyone else by name (or, for ids nobody has, generally).
pub(crate) async fn check_trainers(
    conn: &mut PgConnection,
    society: SocietyId,
    trainers: &[UserId],
) -> AppResult<()> {
    if trainers.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = trainers.iter().map(|t| t.0).collect();
    let rows = sqlx::query!(
        r#"select u.id as "id: UserId", u.name, m.user_id is not null as "member!",
                  coalesce(m.status = 'approved' and m.role in ('trainer', 'admin'), false) as "teaches!"
             from users u
             left join memberships m on m.user_id = u.id and m.society_id = $1
            where u.id = any($2)"#,
        society as SocietyId,
        &ids,
    )
    .fetch_all(conn)
    .await?;
    if rows.len() < ids.len() {
        return Err(AppError::invalid(
            "trainer_ids",
            "Choose trainers from the list: one of them is not a trainer of this society.",
        ));
    }
    if let Some(row) = rows.iter().find(|r| !r.teaches) {
        // Only the society's own people are named.
        let who = if row.member {
            row.name.clone()
        } else {
            "One of them".into()
        };
        return Err(AppError::invalid(
            "trainer_ids",
            format!("{who} is not a trainer of this society."),
        ));
    }
    Ok(())
}

/// The local date of `at` in `zone`.
pub(crate) fn wall_date(zone: Tz, at: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    crate::wall::local(zone, at).date()
}
