//! Bookings: a member's spot in a session or their place on its waitlist, term enrolments,
//! the trainer's roster and attendance, and the society's fair-use rules (cutoffs, limits,
//! strikes and booking bans). Every rule lives in `db`; the database backs the ones it can
//! (one active booking per member and session, no shared waitlist place, never more
//! confirmations than spots).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ids::{BookingId, EnrolmentId, EventId, OccurrenceId, UserId};

#[cfg(feature = "ssr")]
pub mod db;
mod fns;
mod live;
mod views;

pub use fns::*;
pub use live::LiveSpots;
pub use views::{BookingPanel, BookingRulesPanel, MyBookingsPage, ReportsPage, RosterPanel};

/// Longest trainer's note on a booking.
pub const MAX_NOTE_LEN: usize = 500;
/// Longest reason an admin gives for adding or removing a booking.
pub const MAX_REASON_LEN: usize = 1000;
/// Attendance can be taken from this many minutes before a session starts.
pub const ATTENDANCE_OPENS_MINUTES: i64 = 60;

/// Where a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "booking_status", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    /// Has a spot.
    Confirmed,
    /// Waits for a spot, first come first served.
    Waitlisted,
    /// Enrolled in the term, but not coming to this one session.
    Excused,
    Cancelled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Waitlisted => "waitlisted",
            Self::Excused => "excused",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Confirmed => "Booked",
            Self::Waitlisted => "On the waitlist",
            Self::Excused => "Marked absent",
            Self::Cancelled => "Cancelled",
        }
    }

    /// Whether the booking holds a spot or a waitlist place.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Confirmed | Self::Waitlisted)
    }
}

/// What the trainer recorded for a confirmed booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "attendance", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum Attendance {
    Present,
    Late,
    /// A no-show: counts as a strike.
    Absent,
}

impl Attendance {
    pub const ALL: [Self; 3] = [Self::Present, Self::Late, Self::Absent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "present",
            Self::Late => "late",
            Self::Absent => "absent",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Present => "Present",
            Self::Late => "Late",
            Self::Absent => "Absent (no-show)",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text.trim())
    }
}

/// A society's fair-use rules (the `booking_rules` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRules {
    /// Booking opens this many days before a session, at the same local time.
    pub opens_days: i32,
    /// Booking closes this many minutes before the start (0: at the start).
    pub closes_minutes: i32,
    /// Cancelling is free until this many hours before the start; later it is a strike.
    pub free_cancel_hours: i32,
    /// This many strikes within `strike_window_days` ban booking for `ban_days`.
    pub strike_limit: i32,
    pub strike_window_days: i32,
    pub ban_days: i32,
    /// One-off bookings (confirmed or waitlisted) a member may hold for sessions to come.
    pub max_active: i32,
    /// One-off bookings per calendar week (Monday to Sunday, the society's time).
    pub max_per_week: i32,
    /// Reminders before a session, in hours (0: none); whole days keep the wall-clock time.
    pub first_reminder_hours: i32,
    pub second_reminder_hours: i32,
}

impl BookingRules {
    /// Each field with its form name, label, and allowed range.
    pub const FIELDS: [(&'static str, &'static str, i32, i32); 10] = [
        ("opens_days", "Booking opens (days before)", 1, 365),
        (
            "closes_minutes",
            "Booking closes (minutes before)",
            0,
            10080,
        ),
        (
            "free_cancel_hours",
            "Free cancellation until (hours before)",
            0,
            720,
        ),
        ("strike_limit", "Strikes that ban booking", 1, 50),
        ("strike_window_days", "… within (days)", 1, 365),
        ("ban_days", "Ban lasts (days)", 1, 365),
        ("max_active", "Most bookings a member holds", 1, 500),
        ("max_per_week", "Most bookings per week", 1, 100),
        (
            "first_reminder_hours",
            "Reminder (hours before, 0: none)",
            0,
            336,
        ),
        (
            "second_reminder_hours",
            "Second reminder (hours before, 0: none)",
            0,
            336,
        ),
    ];

    /// The value of the field named `name` (one of `FIELDS`).
    pub fn get(&self, name: &str) -> i32 {
        match name {
            "opens_days" => self.opens_days,
            "closes_minutes" => self.closes_minutes,
            "free_cancel_hours" => self.free_cancel_hours,
            "strike_limit" => self.strike_limit,
            "strike_window_days" => self.strike_window_days,
            "ban_days" => self.ban_days,
            "max_active" => self.max_active,
            "first_reminder_hours" => self.first_reminder_hours,
            "second_reminder_hours" => self.second_reminder_hours,
            _ => self.max_per_week,
        }
    }

    /// Refuses a value outside its range, naming the field.
    pub fn validated(self) -> Result<Self, AppError> {
        for (name, label, min, max) in Self::FIELDS {
            let value = self.get(name);
            if !(min..=max).contains(&value) {
                return Err(AppError::invalid(
                    name,
                    format!(
                        "{}: choose a number from {min} to {max}.",
                        label.trim_start_matches("… ")
                    ),
                ));
            }
        }
        Ok(self)
    }
}

/// A booking as its member sees it (also the REST API's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub id: BookingId,
    pub occurrence_id: OccurrenceId,
    pub status: BookingStatus,
    /// 1-based place on the waitlist, for a waitlisted booking.
    pub waitlist_position: Option<i64>,
}

/// What cancelling a booking did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub id: BookingId,
    pub status: BookingStatus,
    /// After free cancellation ended: it counts as a strike.
    pub late: bool,
}

/// What a term enrolment booked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub id: EnrolmentId,
    pub event_id: EventId,
    /// Sessions with a spot, sessions on the waitlist.
    pub confirmed: u32,
    pub waitlisted: u32,
}

/// One line of "My bookings".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyBooking {
    pub booking: Booking,
    pub society_slug: String,
    pub society_name: String,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub starts_local: NaiveDateTime,
    pub ends_local: NaiveDateTime,
    pub session_cancelled: bool,
    pub enrolment: Option<EnrolmentId>,
    pub late: bool,
    pub attendance: Option<Attendance>,
}

/// Why the caller cannot book in a society, or that they can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Standing {
    /// Not signed in.
    Visitor,
    /// Signed in, but not a member (or their request was withdrawn).
    NotMember,
    Pending,
    Rejected,
    Suspended,
    /// A booking ban until then (local time in the society), after `strikes` strikes.
    Banned {
        until: NaiveDateTime,
        strikes: i32,
    },
    Member,
}

impl Standing {
    /// Why booking is not possible, in words; `None` for a member in good standing.
    pub fn reason(&self) -> Option<String> {
        Some(match self {
            Self::Visitor => "Sign in to book a spot.".into(),
            Self::NotMember => "Only members of this society can book. Ask to join on the society's page.".into(),
            Self::Pending => "Your request to join is waiting for an admin; you can book once you are approved.".into(),
            Self::Rejected => "Your request to join was not approved, so you cannot book.".into(),
            Self::Suspended => "Your membership is suspended, so you cannot book. Ask an admin of the society.".into(),
            Self::Banned { until, strikes } => format!(
                "You cannot book until {} after {strikes} late cancellations or no-shows. An admin can lift this.",
                until.format("%a %-d %b %Y, %H:%M")
            ),
            Self::Member => return None,
        })
    }
}

/// The booking part of a session page: spots, the caller's booking and what they may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionBooking {
    pub occurrence_id: OccurrenceId,
    pub society_slug: String,
    pub capacity: i32,
    pub confirmed: i32,
    pub waitlisted: i32,
    pub standing: Standing,
    /// The caller's active booking (or their excused one, in a term).
    pub mine: Option<Booking>,
    /// The caller's enrolment in this session's series, when they have one.
    pub enrolment: Option<EnrolmentId>,
    /// The series, when the session belongs to a weekly one (a term to enrol in).
    pub series: Option<EventId>,
    /// Local times: booking opens, closes, and free cancellation ends.
    pub opens_local: NaiveDateTime,
    pub closes_local: NaiveDateTime,
    pub free_cancel_local: NaiveDateTime,
    /// Why booking is closed right now (not yet open, closed, started, cancelled).
    pub closed_reason: Option<String>,
    /// Whether the caller may see the roster (its trainers and the society's admins).
    pub keeps_roster: bool,
    pub is_admin: bool,
    /// The caller's check-in code as a QR code (SVG), while they have a spot.
    pub checkin_qr: Option<String>,
}

impl SessionBooking {
    pub fn spots_left(&self) -> i32 {
        (self.capacity - self.confirmed).max(0)
    }
}

/// One person on a session's roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    pub booking_id: BookingId,
    pub user_id: UserId,
    pub name: String,
    pub status: BookingStatus,
    pub waitlist_position: Option<i64>,
    pub walk_in: bool,
    pub enrolled: bool,
    pub attendance: Option<Attendance>,
    pub note: String,
    pub booked_at: DateTime<Utc>,
}

/// Who is coming to a session, who waits, and who said they will not come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    pub occurrence_id: OccurrenceId,
    pub title: String,
    pub starts_local: NaiveDateTime,
    pub ends_local: NaiveDateTime,
    pub capacity: i32,
    pub confirmed: Vec<RosterEntry>,
    pub waitlist: Vec<RosterEntry>,
    pub excused: Vec<RosterEntry>,
    /// Attendance can be taken (from an hour before the start, not for a cancelled session).
    pub attendance_open: bool,
}

/// A member with a booking ban, as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanEntry {
    pub user_id: UserId,
    pub name: String,
    pub until_local: NaiveDateTime,
    pub strikes: i32,
}

/// One event's sessions over a report's range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventStats {
    pub event_id: EventId,
    pub title: String,
    pub sessions: i64,
    /// Spots offered, spots booked (walk-ins apart).
    pub capacity: i64,
    pub booked: i64,
    pub walk_ins: i64,
    /// Marked present or late; marked absent (no-shows).
    pub attended: i64,
    pub no_shows: i64,
    /// Booked ÷ spots.
    pub fill_rate: Option<f64>,
    /// No-shows ÷ attendance taken.
    pub no_show_rate: Option<f64>,
}

/// One member's bookings over a report's range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberStats {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub booked: i64,
    pub attended: i64,
    pub no_shows: i64,
    pub late_cancellations: i64,
    pub no_show_rate: Option<f64>,
}

/// Fill and no-show rates of a society's sessions from `from` through `to` (local dates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    pub events: Vec<EventStats>,
    pub members: Vec<MemberStats>,
}

/// One booking of a session, as the attendance CSV lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendanceLine {
    pub starts_local: NaiveDateTime,
    pub title: String,
    pub name: String,
    /// For the society's admins only (trainers see names, as in the directory).
    pub email: Option<String>,
    pub status: BookingStatus,
    pub walk_in: bool,
    pub late: bool,
    pub enrolled: bool,
    pub attendance: Option<Attendance>,
    pub note: String,
}

/// A rate as a percentage ("87%"), or a dash when there is nothing to divide.
pub fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "–".into())
}

/// A form's whole number, or a message naming the field.
pub fn parse_count(field: &str, text: &str) -> Result<i32, AppError> {
    text.trim()
        .parse()
        .map_err(|_| AppError::invalid(field, "Enter a whole number."))
}

/// A trainer's note or an admin's reason, trimmed, without control characters.
pub fn checked_text(field: &str, text: &str, max: usize) -> Result<String, AppError> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("Keep it to {max} characters."),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(AppError::invalid(
            field,
            "Remove the control characters from this text.",
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> BookingRules {
        BookingRules {
            opens_days: 14,
            closes_minutes: 0,
            free_cancel_hours: 6,
            strike_limit: 3,
            strike_window_days: 30,
            ban_days: 7,
            max_active: 10,
            max_per_week: 5,
            first_reminder_hours: 24,
            second_reminder_hours: 0,
        }
    }

    #[test]
    fn each_rule_outside_its_range_is_refused_by_name() {
        assert!(rules().validated().is_ok());
        for (name, _, min, max) in BookingRules::FIELDS {
            for bad in [min - 1, max + 1] {
                let mut r = rules();
                match name {
                    "opens_days" => r.opens_days = bad,
                    "closes_minutes" => r.closes_minutes = bad,
                    "free_cancel_hours" => r.free_cancel_hours = bad,
                    "strike_limit" => r.strike_limit = bad,
                    "strike_window_days" => r.strike_window_days = bad,
                    "ban_days" => r.ban_days = bad,
                    "max_active" => r.max_active = bad,
                    "first_reminder_hours" => r.first_reminder_hours = bad,
                    "second_reminder_hours" => r.second_reminder_hours = bad,
                    _ => r.max_per_week = bad,
                }
                let err = r.validated().unwrap_err();
                assert!(err.field_message(name).is_some(), "{name} = {bad}: {err:?}");
            }
        }
    }

    #[test]
    fn notes_refuse_control_characters_and_long_text() {
        assert_eq!(checked_text("note", "  fine\n", 10).unwrap(), "fine");
        assert!(checked_text("note", "a\0b", 10).is_err());
        assert!(checked_text("note", &"x".repeat(11), 10).is_err());
    }
}
