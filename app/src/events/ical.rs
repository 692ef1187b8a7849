//! iCal feeds (RFC 5545) of sessions, for calendar apps. Each session is one VEVENT whose UID
//! is its occurrence id (stable: a change updates the same entry in place, with a higher
//! SEQUENCE); times are UTC (`...Z`), so every app shows the right local time on both sides
//! of a DST change without a VTIMEZONE; cancelled sessions stay in the feed as
//! `STATUS:CANCELLED`.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, EventLike, EventStatus};

use super::OccurrenceStatus;
use crate::ids::OccurrenceId;

/// One session as a feed lists it.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub id: OccurrenceId,
    pub society_slug: String,
    pub society_name: String,
    pub title: String,
    pub description: String,
    pub location: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: OccurrenceStatus,
    pub cancel_reason: String,
    pub sequence: i32,
    pub updated_at: DateTime<Utc>,
    pub trainers: Vec<String>,
}

/// A whole feed: its name, the zone its sessions are planned in, and the sessions.
pub struct Feed {
    pub name: String,
    pub time_zone: String,
    pub entries: Vec<FeedEntry>,
}

/// Text as a feed carries it: line breaks as `\n` only (the writer escapes those), so no bare
/// carriage return from a typed text ever reaches a calendar app (RFC 5545 lines end in CRLF
/// and nowhere else).
fn text(value: &str) -> String {
    value.replace("\r\n", "\n").replace('\r', "\n")
}

/// The feed as `text/calendar`. `public_url` is where Roster is reached (links and UIDs).
pub fn render(feed: &Feed, public_url: &url::Url) -> String {
    let host = public_url.host_str().unwrap_or("roster");
    let base = public_url.as_str().trim_end_matches('/');
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//Roster//Roster sessions//EN"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .name(&text(&feed.name))
        .timezone(feed.time_zone.as_str());
    for entry in &feed.entries {
        let mut event = icalendar::Event::new();
        let mut description = text(&entry.description);
        if !entry.trainers.is_empty() {
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&format!("Trainers: {}", text(&entry.trainers.join(", "))));
        }
        if entry.status == OccurrenceStatus::Cancelled && !entry.cancel_reason.is_empty() {
            description = format!("Cancelled: {}\n\n{description}", text(&entry.cancel_reason));
        }
        let summary = text(&if feed.name == entry.society_name {
            entry.title.clone()
        } else {
            format!("{} ({})", entry.title, entry.society_name)
        });
        event
            .uid(&format!("{}@{host}", entry.id.0))
            .timestamp(entry.updated_at)
            .last_modified(entry.updated_at)
            .sequence(u32::try_from(entry.sequence).unwrap_or(0))
            .summary(&summary)
            .starts(entry.starts_at)
            .ends(entry.ends_at)
            .url(&format!(
                "{base}/s/{}/sessions/{}",
                entry.society_slug, entry.id.0
            ))
            .status(match entry.status {
                OccurrenceStatus::Scheduled => EventStatus::Confirmed,
                OccurrenceStatus::Cancelled => EventStatus::Cancelled,
            });
        if !description.is_empty() {
            event.description(&description);
        }
        if !entry.location.is_empty() {
            event.location(&text(&entry.location));
        }
        calendar.push(event.done());
    }
    calendar.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::{render, Feed, FeedEntry};
    use crate::events::OccurrenceStatus;
    use crate::ids::OccurrenceId;

    #[test]
    fn typed_carriage_returns_never_reach_the_feed_bare() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-08T17:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let entry = FeedEntry {
            id: OccurrenceId(uuid::Uuid::nil()),
            society_slug: "harbour".into(),
            society_name: "Harbour\rClub".into(),
            title: "Squad\r\nsession".into(),
            description: "Bring water.\rAnd shoes.\r\nThanks".into(),
            location: "Hall\r2".into(),
            starts_at: at,
            ends_at: at + chrono::Duration::hours(1),
            status: OccurrenceStatus::Cancelled,
            cancel_reason: "Flood\rwarning".into(),
            sequence: 1,
            updated_at: at,
            trainers: vec!["Tom\rTrainer".into()],
        };
        let feed = Feed {
            name: "Harbour\rfeed".into(),
            time_zone: "Europe/Berlin".into(),
            entries: vec![entry],
        };
        let out = render(
            &feed,
            &url::Url::parse("https://roster.example.org").unwrap(),
        );
        let bytes = out.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\r' {
                assert_eq!(
                    bytes.get(i + 1),
                    Some(&b'\n'),
                    "a bare CR at byte {i}:\n{out}"
                );
            }
        }
        assert!(out.contains("Bring water.\\nAnd shoes."), "{out}");
    }
}
