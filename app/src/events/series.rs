//! When an event's sessions are: its series dates (RFC 5545 recurrence, expanded by the
//! `rrule` crate) and the instant each session starts.
//!
//! A weekly series is defined in local time: "Tuesdays at 18:00, Europe/Berlin" is at 18:00 on
//! the wall clock before and after both DST changes. So the rule is expanded on wall-clock
//! dates alone (as floating times, in UTC, where no day has a gap), and each date's start is
//! then placed in the event's zone by `wall::local_instant`, which resolves the two DST edge cases
//! the way RFC 5545 §3.3.5 says, every time:
//! - a local time that does not exist (spring forward, 02:30 in Berlin on the last Sunday of
//!   March) is read with the UTC offset in force before the gap: it becomes 03:30 local;
//! - a local time that exists twice (fall back, 02:30 on the last Sunday of October) is the
//!   first of the two (still summer time).

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rrule::{Frequency, NWeekday, RRule, RRuleSet};

use super::{SeriesEnd, Weekly, MAX_SERIES_SESSIONS};
use crate::wall::local_instant;

/// Where an event's sessions fall: its zone, first date and start time, and its weekly rule.
#[derive(Debug, Clone)]
pub struct Series {
    pub time_zone: Tz,
    pub start_date: NaiveDate,
    pub start_time: NaiveTime,
    pub weekly: Option<Weekly>,
}

impl Series {
    /// Every series date, in order (at most `MAX_SERIES_SESSIONS + 1`, so a caller can tell
    /// that a rule has too many).
    pub fn dates(&self) -> Vec<NaiveDate> {
        let Some(weekly) = &self.weekly else {
            return vec![self.start_date];
        };
        // Floating wall-clock times: the dates come out right whatever the zone does.
        let floating = |date: NaiveDate| Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN));
        let start = floating(self.start_date).with_timezone(&rrule::Tz::UTC);
        let mut rule = RRule::new(Frequency::Weekly)
            .interval(weekly.interval.into())
            .week_start(chrono::Weekday::Mon)
            .by_weekday(
                weekly
                    .weekdays
                    .iter()
                    .map(|d| NWeekday::Every(*d))
                    .collect(),
            );
        match weekly.end {
            SeriesEnd::Count(count) => rule = rule.count(count),
            SeriesEnd::Until(until) => {
                rule = rule.until(floating(until).with_timezone(&rrule::Tz::UTC))
            }
        }
        let Ok(set): Result<RRuleSet, _> = rule.build(start) else {
            return Vec::new();
        };
        let limit = u16::try_from(MAX_SERIES_SESSIONS + 1).unwrap_or(u16::MAX);
        set.all(limit)
            .dates
            .into_iter()
            .map(|d| d.date_naive())
            .collect()
    }

    /// The series dates from `from` through `through` (inclusive).
    pub fn dates_between(&self, from: NaiveDate, through: NaiveDate) -> Vec<NaiveDate> {
        self.dates()
            .into_iter()
            .filter(|d| *d >= from && *d <= through)
            .collect()
    }

    /// The last series date, if the series has any.
    pub fn last_date(&self) -> Option<NaiveDate> {
        self.dates().last().copied()
    }

    /// When the session on `date` starts, at the series' start time.
    pub fn starts_at(&self, date: NaiveDate) -> DateTime<Utc> {
        local_instant(self.time_zone, date.and_time(self.start_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wall::local;
    use chrono::Weekday::{Sun, Thu, Tue};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn series(zone: Tz, start: NaiveDate, time: (u32, u32), weekly: Option<Weekly>) -> Series {
        Series {
            time_zone: zone,
            start_date: start,
            start_time: NaiveTime::from_hms_opt(time.0, time.1, 0).unwrap(),
            weekly,
        }
    }

    #[test]
    fn a_gap_is_read_with_the_offset_before_it_and_a_repeat_is_the_first() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-29 02:30 does not exist in Berlin: 01:30 UTC, i.e. 03:30 CEST.
        let gap = local_instant(berlin, date(2026, 3, 29).and_hms_opt(2, 30, 0).unwrap());
        assert_eq!(gap.to_rfc3339(), "2026-03-29T01:30:00+00:00");
        assert_eq!(local(berlin, gap).format("%H:%M").to_string(), "03:30");
        // 2026-10-25 02:30 exists twice: the first is still CEST (00:30 UTC).
        let twice = local_instant(berlin, date(2026, 10, 25).and_hms_opt(2, 30, 0).unwrap());
        assert_eq!(twice.to_rfc3339(), "2026-10-25T00:30:00+00:00");
    }

    #[test]
    fn weekly_on_two_days_every_second_week_until_a_date() {
        let s = series(
            "Europe/Berlin".parse().unwrap(),
            date(2026, 12, 1),
            (18, 0),
            Some(Weekly {
                weekdays: vec![Tue, Thu],
                interval: 2,
                end: SeriesEnd::Until(date(2026, 12, 31)),
            }),
        );
        assert_eq!(
            s.dates(),
            vec![
                date(2026, 12, 1),
                date(2026, 12, 3),
                date(2026, 12, 15),
                date(2026, 12, 17),
                date(2026, 12, 29),
                date(2026, 12, 31),
            ]
        );
    }

    #[test]
    fn a_start_date_off_the_weekdays_begins_at_the_next_weekday() {
        let s = series(
            "UTC".parse().unwrap(),
            date(2026, 12, 2), // a Wednesday
            (9, 0),
            Some(Weekly {
                weekdays: vec![Sun],
                interval: 1,
                end: SeriesEnd::Count(2),
            }),
        );
        assert_eq!(s.dates(), vec![date(2026, 12, 6), date(2026, 12, 13)]);
    }
}
