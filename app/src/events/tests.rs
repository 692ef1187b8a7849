use chrono::{NaiveDate, Weekday};

use super::*;

fn form() -> EventForm {
    EventForm {
        title: "  Squad training ".into(),
        capacity: "12".into(),
        duration_minutes: "90".into(),
        start_date: "2026-12-01".into(),
        start_time: "18:00".into(),
        repeat: "weekly".into(),
        until: "2027-03-30".into(),
        ..EventForm::default()
    }
}

fn field(result: Result<NewEvent, AppError>) -> String {
    match result {
        Err(AppError::Invalid { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn a_weekly_form_becomes_a_sorted_series() {
    let event = form()
        .parse(&["th".into(), "TU".into(), "TU".into()], &[])
        .unwrap();
    assert_eq!(event.details.title, "Squad training");
    let weekly = event.weekly.unwrap();
    assert_eq!(weekly.weekdays, vec![Weekday::Tue, Weekday::Thu]);
    assert_eq!(weekly.interval, 1);
    assert_eq!(
        weekly.end,
        SeriesEnd::Until(NaiveDate::from_ymd_opt(2027, 3, 30).unwrap())
    );
}

#[test]
fn each_wrong_field_is_named() {
    let days = ["TU".to_string()];
    let with = |f: fn(&mut EventForm)| {
        let mut form = form();
        f(&mut form);
        form.parse(&days, &[])
    };
    assert_eq!(field(with(|f| f.title = " ".into())), "title");
    assert_eq!(field(with(|f| f.title = "a\u{0}b".into())), "title");
    assert_eq!(field(with(|f| f.location = "Lake\u{7}".into())), "location");
    assert_eq!(field(with(|f| f.capacity = "0".into())), "capacity");
    assert_eq!(field(with(|f| f.capacity = "1001".into())), "capacity");
    assert_eq!(field(with(|f| f.capacity = "many".into())), "capacity");
    assert_eq!(
        field(with(|f| f.duration_minutes = "2".into())),
        "duration_minutes"
    );
    assert_eq!(
        field(with(|f| f.start_date = "31.12.2026".into())),
        "start_date"
    );
    assert_eq!(field(with(|f| f.start_time = "25:00".into())), "start_time");
    assert_eq!(field(with(|f| f.until = "2026-11-30".into())), "until");
    assert_eq!(field(with(|f| f.until = "262143-12-31".into())), "until");
    assert_eq!(
        field(with(|f| f.start_date = "1066-10-14".into())),
        "start_date"
    );
    assert_eq!(field(with(|f| f.interval = "0".into())), "interval");
    assert_eq!(field(with(|f| f.category = "x".into())), "category");
    assert_eq!(field(with(|f| f.repeat = "daily".into())), "repeat");
    assert_eq!(
        field(with(|f| {
            f.ends = "count".into();
            f.count = "301".into();
        })),
        "count"
    );
    assert_eq!(field(form().parse(&[], &[])), "weekdays");
    assert_eq!(field(form().parse(&["XX".into()], &[])), "weekdays");
    assert_eq!(field(form().parse(&days, &["nope".into()])), "trainer_ids");
}

#[test]
fn a_session_reads_as_its_wall_clock_times() {
    let start = NaiveDate::from_ymd_opt(2026, 12, 1)
        .unwrap()
        .and_hms_opt(18, 0, 0)
        .unwrap();
    assert_eq!(
        when_text(start, start + chrono::Duration::minutes(90)),
        "Tue 1 Dec 2026, 18:00–19:30"
    );
}

#[test]
fn reasons_and_descriptions_keep_line_breaks_but_no_other_control_characters() {
    assert!(checked_reason("Storm.\nSee you Thursday.").is_ok());
    assert!(checked_reason("Storm\u{0}").is_err());
    assert!(checked_category_name("Squad\u{1b}[31m").is_err());
}
