//! Events and their sessions against a real PostgreSQL: series across DST changes, edits of
//! one / following / all, the horizon, trainers who cannot be in two places, cancellations,
//! validation and who may read what.

use app::access::{MembershipRole, MembershipStatus};
use app::error::AppError;
use app::events::db::{self as events, SessionFilter};
use app::events::{
    EditScope, EventDetails, NewEvent, OccurrenceChange, OccurrenceStatus, SeriesChange, SeriesEnd,
    Weekly,
};
use app::ids::{CategoryId, EventId, OccurrenceId, SocietyId, UserId};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use sqlx::PgPool;

use crate::{calls, fx};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn details(title: &str, trainers: Vec<UserId>) -> EventDetails {
    EventDetails {
        title: title.into(),
        description: String::new(),
        location: "Boathouse".into(),
        capacity: 12,
        duration_minutes: 90,
        category: None,
        trainers,
    }
}

fn weekly(days: &[Weekday], interval: u8, end: SeriesEnd) -> Option<Weekly> {
    Some(Weekly {
        weekdays: days.to_vec(),
        interval,
        end,
    })
}

fn event(title: &str, start: NaiveDate, at: NaiveTime, weekly: Option<Weekly>) -> NewEvent {
    NewEvent {
        details: details(title, Vec::new()),
        start_date: start,
        start_time: at,
        weekly,
    }
}

/// A society in `zone` with its admin, and a trainer.
async fn club(pool: &PgPool, slug: &str, zone: &str) -> (SocietyId, UserId, UserId) {
    let (society, admin) = fx::society_with_admin(pool, slug).await;
    sqlx::query("update societies set time_zone = $2 where id = $1")
        .bind(society.id)
        .bind(zone)
        .execute(pool)
        .await
        .unwrap();
    let trainer = fx::user(pool, &format!("trainer-{slug}"), false).await;
    let mut conn = pool.acquire().await.unwrap();
    fx::put_membership(
        &mut conn,
        society.id,
        trainer.id,
        MembershipRole::Trainer,
        MembershipStatus::Approved,
    )
    .await
    .unwrap();
    (society.id, admin.id, trainer.id)
}

async fn create(
    pool: &PgPool,
    society: SocietyId,
    admin: UserId,
    new: NewEvent,
) -> Result<events::CreatedEvent, AppError> {
    let mut tx = pool.begin().await.unwrap();
    let created = calls::create_event(&mut tx, society, admin, new).await;
    if created.is_ok() {
        tx.commit().await.unwrap();
    }
    created
}

/// (series date, starts_at, ends_at, status) of an event's sessions, in order.
async fn sessions_of(
    pool: &PgPool,
    event: EventId,
) -> Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>, String)> {
    sqlx::query_as(
        "select series_date, starts_at, ends_at, status::text from occurrences where event_id = $1 order by series_date",
    )
    .bind(event)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn hm(at: DateTime<Utc>, zone: &str) -> String {
    let zone: chrono_tz::Tz = zone.parse().unwrap();
    at.with_timezone(&zone).format("%H:%M").to_string()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_berlin_series_stays_at_18_local_across_both_dst_changes(pool: PgPool) {
    let (society, admin, _) = club(&pool, "berlin", "Europe/Berlin").await;
    // Tuesdays from March to November 2026: summer time starts 29 March, ends 25 October.
    let created = create(
        &pool,
        society,
        admin,
        event(
            "Squad",
            date(2026, 3, 3),
            time(18, 0),
            weekly(&[Weekday::Tue], 1, SeriesEnd::Until(date(2026, 11, 10))),
        ),
    )
    .await
    .unwrap();
    let rows = sessions_of(&pool, created.id).await;
    assert_eq!(rows.len(), 37);
    for (day, starts, ends, _) in &rows {
        assert_eq!(hm(*starts, "Europe/Berlin"), "18:00", "{day}");
        assert_eq!(*ends - *starts, Duration::minutes(90));
        let utc_hour = starts.format("%H").to_string();
        let summer = *day > date(2026, 3, 29) && *day < date(2026, 10, 25);
        assert_eq!(utc_hour, if summer { "16" } else { "17" }, "{day}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn new_york_gaps_and_repeats_resolve_the_documented_way_and_tokyo_never_moves(pool: PgPool) {
    let (society, admin, _) = club(&pool, "nyc", "America/New_York").await;
    // 2026-03-08 02:30 does not exist in New York (clocks jump 02:00 → 03:00): 03:30 EDT.
    // 2026-11-01 01:30 exists twice: the first, still EDT (05:30 UTC).
    let gap = create(
        &pool,
        society,
        admin,
        event(
            "Night rowing",
            date(2026, 3, 1),
            time(2, 30),
            weekly(&[Weekday::Sun], 1, SeriesEnd::Count(3)),
        ),
    )
    .await
    .unwrap();
    let rows = sessions_of(&pool, gap.id).await;
    let at: Vec<String> = rows.iter().map(|r| r.1.to_rfc3339()).collect();
    assert_eq!(
        at,
        [
            "2026-03-01T07:30:00+00:00", // 02:30 EST
            "2026-03-08T07:30:00+00:00", // 02:30 does not exist: 03:30 EDT
            "2026-03-15T06:30:00+00:00", // 02:30 EDT
        ]
    );
    let repeat = create(
        &pool,
        society,
        admin,
        event("Fall back", date(2026, 11, 1), time(1, 30), None),
    )
    .await
    .unwrap();
    let rows = sessions_of(&pool, repeat.id).await;
    assert_eq!(rows[0].1.to_rfc3339(), "2026-11-01T05:30:00+00:00");

    let (tokyo, tokyo_admin, _) = club(&pool, "tokyo", "Asia/Tokyo").await;
    let created = create(
        &pool,
        tokyo,
        tokyo_admin,
        event(
            "Judo",
            date(2026, 1, 5),
            time(19, 0),
            weekly(&[Weekday::Mon], 4, SeriesEnd::Until(date(2026, 12, 31))),
        ),
    )
    .await
    .unwrap();
    let rows = sessions_of(&pool, created.id).await;
    assert_eq!(rows.len(), 13, "every 4th Monday of 2026");
    assert!(rows
        .iter()
        .all(|r| r.1.format("%H:%M").to_string() == "10:00"));
}

#[sqlx::test(migrations = "../migrations")]
async fn every_second_week_and_until_versus_count(pool: PgPool) {
    let (society, admin, _) = club(&pool, "rhythm", "Europe/Berlin").await;
    let start = today() + Duration::days(1);
    let by_count = create(
        &pool,
        society,
        admin,
        event(
            "Counted",
            start,
            time(7, 0),
            weekly(&[Weekday::Tue, Weekday::Thu], 2, SeriesEnd::Count(5)),
        ),
    )
    .await
    .unwrap();
    let rows = sessions_of(&pool, by_count.id).await;
    assert_eq!(rows.len(), 5);
    assert_eq!(by_count.occurrence_ids.len(), 5);
    // Tuesday to Thursday is 2 days; Thursday to the Tuesday two weeks on, 12.
    for pair in rows.windows(2) {
        let gap = (pair[1].0 - pair[0].0).num_days();
        assert!(gap == 2 || gap == 12, "gap {gap}");
    }
    // Every second week, counted from the week the series starts in.
    let monday = start
        - Duration::days(
            chrono::Datelike::weekday(&start)
                .num_days_from_monday()
                .into(),
        );
    for row in &rows {
        let week = (row.0 - monday).num_days() / 7;
        assert_eq!(week % 2, 0, "{} is in an odd week", row.0);
        assert!(matches!(
            chrono::Datelike::weekday(&row.0),
            Weekday::Tue | Weekday::Thu
        ));
    }
    let until = start + Duration::days(27);
    let by_date = create(
        &pool,
        society,
        admin,
        event(
            "Dated",
            start,
            time(7, 0),
            weekly(&[start.weekday_from_date()], 1, SeriesEnd::Until(until)),
        ),
    )
    .await
    .unwrap();
    let rows = sessions_of(&pool, by_date.id).await;
    assert_eq!(rows.len(), 4, "the start date and the next three weeks");
    assert!(rows.last().unwrap().0 <= until);
}

trait WeekdayOf {
    fn weekday_from_date(&self) -> Weekday;
}

impl WeekdayOf for NaiveDate {
    fn weekday_from_date(&self) -> Weekday {
        chrono::Datelike::weekday(self)
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn changing_one_session_leaves_the_rest_of_the_series(pool: PgPool) {
    let (society, admin, trainer) = club(&pool, "one", "Europe/Berlin").await;
    let start = today() + Duration::days(7);
    let created = create(
        &pool,
        society,
        admin,
        event(
            "Squad",
            start,
            time(18, 0),
            weekly(&[start.weekday_from_date()], 1, SeriesEnd::Count(4)),
        ),
    )
    .await
    .unwrap();
    let second = created.occurrence_ids[1];
    let mut tx = pool.begin().await.unwrap();
    calls::change_occurrence(
        &mut tx,
        society,
        admin,
        second,
        OccurrenceChange {
            start_date: start + Duration::days(8),
            start_time: time(19, 30),
            duration_minutes: 60,
            location: "Lake".into(),
            capacity: 8,
            trainers: vec![trainer],
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let rows = sessions_of(&pool, created.id).await;
    assert_eq!(hm(rows[0].1, "Europe/Berlin"), "18:00");
    assert_eq!(hm(rows[1].1, "Europe/Berlin"), "19:30");
    assert_eq!(rows[1].2 - rows[1].1, Duration::minutes(60));
    assert_eq!(hm(rows[2].1, "Europe/Berlin"), "18:00");
    let (location, capacity, sequence): (String, i32, i32) =
        sqlx::query_as("select location, capacity, sequence from occurrences where id = $1")
            .bind(second)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((location.as_str(), capacity, sequence), ("Lake", 8, 1));
    assert_eq!(fx::count(&pool, "occurrence_trainers").await, 1);
    assert_eq!(
        fx::count(&pool, "audit_log where action = 'occurrence.changed'").await,
        1
    );
    // The horizon job does not make the moved session again on its old date.
    events::extend_horizons(&pool).await.unwrap();
    assert_eq!(sessions_of(&pool, created.id).await.len(), 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn this_and_following_splits_the_series_and_all_changes_only_the_future(pool: PgPool) {
    let (society, admin, trainer) = club(&pool, "split", "Europe/Berlin").await;
    // Two weeks in the past, so "all" has sessions it must leave alone.
    let start = today() - Duration::days(14);
    let created = create(
        &pool,
        society,
        admin,
        event(
            "Squad",
            start,
            time(18, 0),
            weekly(&[start.weekday_from_date()], 1, SeriesEnd::Count(8)),
        ),
    )
    .await
    .unwrap();
    assert_eq!(created.occurrence_ids.len(), 8);
    // A session changed on its own keeps its place when the series' time changes later.
    let mut tx = pool.begin().await.unwrap();
    let sixth = created.occurrence_ids[5];
    let sixth_date = start + Duration::days(35);
    calls::change_occurrence(
        &mut tx,
        society,
        admin,
        sixth,
        OccurrenceChange {
            start_date: sixth_date,
            start_time: time(18, 0),
            duration_minutes: 90,
            location: "Lake".into(),
            capacity: 12,
            trainers: Vec::new(),
        },
    )
    .await
    .unwrap();
    // All future: 19:00 and the trainer. The two past sessions (and today's, if it started)
    // keep 18:00.
    let mut change = SeriesChange {
        details: details("Squad", vec![trainer]),
        start_time: time(19, 0),
    };
    let fourth = created.occurrence_ids[3];
    let same = calls::change_series(
        &mut tx,
        society,
        admin,
        fourth,
        EditScope::All,
        change.clone(),
    )
    .await
    .unwrap();
    assert_eq!(same, created.id);
    tx.commit().await.unwrap();
    let rows = sessions_of(&pool, created.id).await;
    assert_eq!(hm(rows[0].1, "Europe/Berlin"), "18:00");
    assert_eq!(hm(rows[1].1, "Europe/Berlin"), "18:00");
    assert!(rows[3..]
        .iter()
        .all(|r| hm(r.1, "Europe/Berlin") == "19:00"));
    let sixth_location: String =
        sqlx::query_scalar("select location from occurrences where id = $1")
            .bind(sixth)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        sixth_location, "Lake",
        "the location was not part of the change"
    );

    // This and following, from the sixth: a new event takes over sessions 6 to 8.
    change.details.title = "Squad (summer)".into();
    change.details.capacity = 20;
    change.start_time = time(17, 0);
    let mut tx = pool.begin().await.unwrap();
    let new_event =
        calls::change_series(&mut tx, society, admin, sixth, EditScope::Following, change)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_ne!(new_event, created.id);
    let old_rows = sessions_of(&pool, created.id).await;
    let new_rows = sessions_of(&pool, new_event).await;
    assert_eq!((old_rows.len(), new_rows.len()), (5, 3));
    assert!(new_rows.iter().all(|r| hm(r.1, "Europe/Berlin") == "17:00"));
    assert!(old_rows[3..]
        .iter()
        .all(|r| hm(r.1, "Europe/Berlin") == "19:00"));
    let (count, until, last): (Option<i32>, Option<NaiveDate>, NaiveDate) =
        sqlx::query_as("select count, until_date, last_date from events where id = $1")
            .bind(created.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (count, until, last),
        (
            None,
            Some(start + Duration::days(28)),
            start + Duration::days(28)
        )
    );
    let (new_count, title): (Option<i32>, String) =
        sqlx::query_as("select count, title from events where id = $1")
            .bind(new_event)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((new_count, title.as_str()), (Some(3), "Squad (summer)"));
    let capacities: Vec<i32> =
        sqlx::query_scalar("select capacity from occurrences where event_id = $1")
            .bind(new_event)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(capacities, vec![20, 20, 20]);
    // The trainer stays on the moved sessions; the horizon makes nothing again.
    events::extend_horizons(&pool).await.unwrap();
    assert_eq!(fx::count(&pool, "occurrences").await, 8);
    assert_eq!(
        fx::count(&pool, "audit_log where action = 'event.changed'").await,
        2
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_horizon_grows_once_even_when_extended_twice_at_the_same_time(pool: PgPool) {
    let (society, admin, trainer) = club(&pool, "horizon", "Europe/Berlin").await;
    let start = today();
    let mut new = event(
        "Long",
        start,
        time(6, 0),
        weekly(
            &[Weekday::Mon, Weekday::Wed, Weekday::Fri],
            1,
            // About 280 sessions: under the 300 a series may have, whatever today's weekday.
            SeriesEnd::Until(start + Duration::days(650)),
        ),
    );
    new.details.trainers = vec![trainer];
    let created = create(&pool, society, admin, new).await.unwrap();
    let made = created.occurrence_ids.len();
    assert!(
        (76..=80).contains(&made),
        "26 weeks of three days, got {made}"
    );
    // As if the series had been made 10 weeks ago: its rows end 10 weeks short.
    let cut = sqlx::query(
        "delete from occurrences where event_id = $1 and series_date > current_date + 112",
    )
    .bind(created.id)
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert!(cut > 20);
    sqlx::query("update events set generated_until = current_date + 112 where id = $1")
        .bind(created.id)
        .execute(&pool)
        .await
        .unwrap();
    // Hold the event row, start two extensions, and let them go once both wait on it.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("select id from events where id = $1 for update")
        .bind(created.id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let first = tokio::spawn({
        let pool = pool.clone();
        async move { events::extend_horizons(&pool).await }
    });
    let second = tokio::spawn({
        let pool = pool.clone();
        async move { events::extend_horizons(&pool).await }
    });
    fx::wait_until_blocked(&pool, 2).await;
    holder.commit().await.unwrap();
    let a = first.await.unwrap().unwrap();
    let b = second.await.unwrap().unwrap();
    assert_eq!(
        a + b,
        cut,
        "one of them made the missing sessions, the other none"
    );
    let total = fx::count(&pool, "occurrences").await;
    assert_eq!(total as usize, made);
    let distinct: i64 = sqlx::query_scalar(
        "select count(distinct series_date) from occurrences where event_id = $1",
    )
    .bind(created.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(distinct as usize, made);
    // Every new session has the event's trainer.
    assert_eq!(fx::count(&pool, "occurrence_trainers").await as usize, made);
}

/// A weekly session set up by `admin` of `society` with `trainer`, starting `at`.
fn taught(title: &str, start: NaiveDate, at: NaiveTime, trainer: UserId) -> NewEvent {
    NewEvent {
        details: details(title, vec![trainer]),
        start_date: start,
        start_time: at,
        weekly: None,
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_trainer_cannot_teach_two_overlapping_sessions_even_when_two_admins_race(pool: PgPool) {
    let (harbour, harbour_admin, trainer) = club(&pool, "harbour", "Europe/Berlin").await;
    // The same trainer also teaches at another club.
    let (river, river_admin, _) = club(&pool, "river", "Europe/Berlin").await;
    let mut conn = pool.acquire().await.unwrap();
    fx::put_membership(
        &mut conn,
        river,
        trainer,
        MembershipRole::Trainer,
        MembershipStatus::Approved,
    )
    .await
    .unwrap();
    drop(conn);
    let day = today() + Duration::days(3);

    // Harbour's admin assigns the trainer 18:00-19:30 and has not committed yet.
    let mut first = pool.begin().await.unwrap();
    calls::create_event(
        &mut first,
        harbour,
        harbour_admin,
        taught("Squad", day, time(18, 0), trainer),
    )
    .await
    .unwrap();
    // River's admin assigns the same trainer 19:00-20:30: the database makes them wait.
    let second = fx::in_background(&pool, move |c| {
        Box::pin(async move {
            calls::create_event(
                c,
                river,
                river_admin,
                taught("Sculling", day, time(19, 0), trainer),
            )
            .await
        })
    });
    fx::wait_until_blocked(&pool, 1).await;
    first.commit().await.unwrap();
    match second.await.unwrap() {
        Err(AppError::Conflict(message)) => {
            assert!(message.contains("is busy then"), "{message}");
            for detail in ["Squad", "another society", "18:", "19:"] {
                assert!(
                    !message.contains(detail),
                    "the other society's details leak ({detail}): {message}"
                );
            }
        }
        other => panic!("expected the clash, got {other:?}"),
    }
    assert_eq!(
        fx::count(&pool, "events").await,
        1,
        "nothing of the loser stays"
    );

    // Inside one society the admins queue on the society; the second sees the clash by name.
    let mut first = pool.begin().await.unwrap();
    calls::create_event(
        &mut first,
        harbour,
        harbour_admin,
        taught("Early", day, time(8, 0), trainer),
    )
    .await
    .unwrap();
    let other_admin = fx::user(&pool, "second-admin", false).await;
    let mut conn = pool.acquire().await.unwrap();
    fx::put_membership(
        &mut conn,
        harbour,
        other_admin.id,
        MembershipRole::Admin,
        MembershipStatus::Approved,
    )
    .await
    .unwrap();
    drop(conn);
    let other = other_admin.id;
    let second = fx::in_background(&pool, move |c| {
        Box::pin(async move {
            calls::create_event(
                c,
                harbour,
                other,
                taught("Also early", day, time(8, 30), trainer),
            )
            .await
        })
    });
    fx::wait_until_blocked(&pool, 1).await;
    first.commit().await.unwrap();
    match second.await.unwrap() {
        Err(AppError::Conflict(message)) => assert!(message.contains("“Early”"), "{message}"),
        other => panic!("expected the clash, got {other:?}"),
    }
    // Back to back is fine: 19:30 is when Squad ends.
    create(
        &pool,
        harbour,
        harbour_admin,
        taught("Later", day, time(19, 30), trainer),
    )
    .await
    .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_cancelled_session_stays_visible_tells_its_trainers_and_frees_them(pool: PgPool) {
    let (society, admin, trainer) = club(&pool, "cancel", "Europe/Berlin").await;
    let day = today() + Duration::days(2);
    let created = create(
        &pool,
        society,
        admin,
        taught("Squad", day, time(18, 0), trainer),
    )
    .await
    .unwrap();
    let id = created.occurrence_ids[0];
    let mut tx = pool.begin().await.unwrap();
    assert!(matches!(
        calls::cancel_occurrence(&mut tx, society, admin, id, "  ").await,
        Err(AppError::Invalid { field, .. }) if field == "reason"
    ));
    calls::cancel_occurrence(&mut tx, society, admin, id, "Storm warning")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let outbox: Vec<(UserId, String, serde_json::Value)> =
        sqlx::query_as("select recipient_id, kind, payload from notification_outbox")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].0, trainer);
    assert_eq!(outbox[0].1, "occurrence.cancelled");
    assert_eq!(outbox[0].2["reason"], "Storm warning");
    let mut conn = pool.acquire().await.unwrap();
    let list = calls::sessions(
        &mut conn,
        society,
        Some(admin),
        day,
        day + Duration::days(1),
        SessionFilter::default(),
    )
    .await
    .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, OccurrenceStatus::Cancelled);
    let again = calls::cancel_occurrence(&mut conn, society, admin, id, "Twice").await;
    assert!(matches!(again, Err(AppError::Conflict(_))));
    drop(conn);
    // The trainer is free at that time again.
    create(
        &pool,
        society,
        admin,
        taught("Instead", day, time(18, 0), trainer),
    )
    .await
    .unwrap();
    assert_eq!(
        fx::count(&pool, "audit_log where action = 'occurrence.cancelled'").await,
        1
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_events_are_refused_by_field_and_leave_nothing(pool: PgPool) {
    let (society, admin, _) = club(&pool, "strict", "Europe/Berlin").await;
    let (other, other_admin, other_trainer) = club(&pool, "elsewhere", "Europe/Berlin").await;
    let mut tx = pool.begin().await.unwrap();
    let foreign = calls::create_category(&mut tx, other, other_admin, "Squad")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let member = fx::user(&pool, "plain-member", false).await;
    let mut conn = pool.acquire().await.unwrap();
    fx::put_membership(
        &mut conn,
        society,
        member.id,
        MembershipRole::Member,
        MembershipStatus::Approved,
    )
    .await
    .unwrap();
    drop(conn);
    let start = today() + Duration::days(1);
    let base = || event("Squad", start, time(18, 0), None);
    let field = |r: Result<events::CreatedEvent, AppError>| match r {
        Err(AppError::Invalid { field, message }) => {
            assert!(!message.is_empty());
            field
        }
        other => panic!("expected a field error, got {other:?}"),
    };
    let mut cases: Vec<(NewEvent, &str)> = Vec::new();
    let mut e = base();
    e.details.category = Some(foreign.id);
    cases.push((e, "category"));
    let mut e = base();
    e.details.category = Some(CategoryId(uuid::Uuid::new_v4()));
    cases.push((e, "category"));
    let mut e = base();
    e.details.trainers = vec![other_trainer];
    cases.push((e, "trainer_ids"));
    let mut e = base();
    e.details.trainers = vec![member.id];
    cases.push((e, "trainer_ids"));
    let mut e = base();
    e.details.trainers = vec![UserId(uuid::Uuid::new_v4())];
    cases.push((e, "trainer_ids"));
    let mut e = base();
    e.details.capacity = 0;
    cases.push((e, "capacity"));
    let mut e = base();
    e.details.title = "x".repeat(121);
    cases.push((e, "title"));
    cases.push((
        event(
            "Too many",
            start,
            time(18, 0),
            weekly(
                &WEEKDAYS_ALL,
                1,
                SeriesEnd::Until(start + Duration::days(400)),
            ),
        ),
        "until",
    ));
    cases.push((
        event(
            "Never",
            date(2027, 1, 4), // a Monday
            time(18, 0),
            weekly(&[Weekday::Sun], 1, SeriesEnd::Until(date(2027, 1, 9))),
        ),
        "weekdays",
    ));
    for (new, expected) in cases {
        assert_eq!(field(create(&pool, society, admin, new).await), expected);
    }
    assert_eq!(fx::count(&pool, "events").await, 0);
    assert_eq!(fx::count(&pool, "occurrences").await, 0);
    // Members read but do not write.
    assert!(matches!(
        create(&pool, society, member.id, base()).await,
        Err(AppError::Forbidden)
    ));
}

const WEEKDAYS_ALL: [Weekday; 7] = app::events::WEEKDAYS;

#[sqlx::test(migrations = "../migrations")]
async fn the_calendar_is_for_members_unless_public_and_other_societies_ids_are_not_found(
    pool: PgPool,
) {
    let (society, admin, trainer) = club(&pool, "private", "Europe/Berlin").await;
    let (other, other_admin, _) = club(&pool, "neighbour", "Europe/Berlin").await;
    let day = today() + Duration::days(1);
    let ours = create(
        &pool,
        society,
        admin,
        taught("Ours", day, time(9, 0), trainer),
    )
    .await
    .unwrap();
    let stranger = fx::user(&pool, "stranger", false).await;
    let mut conn = pool.acquire().await.unwrap();
    let window = (day, day + Duration::days(1));
    assert!(matches!(
        calls::sessions(
            &mut conn,
            society,
            None,
            window.0,
            window.1,
            SessionFilter::default()
        )
        .await,
        Err(AppError::Unauthenticated)
    ));
    assert!(matches!(
        calls::sessions(
            &mut conn,
            society,
            Some(stranger.id),
            window.0,
            window.1,
            SessionFilter::default()
        )
        .await,
        Err(AppError::Forbidden)
    ));
    let as_trainer = calls::sessions(
        &mut conn,
        society,
        Some(trainer),
        window.0,
        window.1,
        SessionFilter {
            trainer: Some(trainer),
            category: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(as_trainer.len(), 1);
    assert_eq!(as_trainer[0].trainers.len(), 1);
    // Another society's admin cannot open our session through their own society.
    let id: OccurrenceId = ours.occurrence_ids[0];
    assert!(matches!(
        calls::occurrence(&mut conn, other, Some(other_admin), id).await,
        Err(AppError::NotFound)
    ));
    let mut tx = pool.begin().await.unwrap();
    assert!(matches!(
        calls::cancel_occurrence(&mut tx, other, other_admin, id, "Not yours").await,
        Err(AppError::NotFound)
    ));
    drop(tx);
    // Public: visitors read it too.
    sqlx::query("update societies set calendar_public = true where id = $1")
        .bind(society)
        .execute(&pool)
        .await
        .unwrap();
    let public = calls::occurrence(&mut conn, society, None, id)
        .await
        .unwrap();
    assert_eq!(public.summary.title, "Ours");
    assert_eq!(public.viewer_role, None);
    let taught = events::taught_by(&mut conn, trainer, Utc::now(), 10)
        .await
        .unwrap();
    assert_eq!(taught.len(), 1);
    assert_eq!(taught[0].society_slug, "private");
}

#[sqlx::test(migrations = "../migrations")]
async fn ending_a_series_early_and_deleting_an_event(pool: PgPool) {
    let (society, admin, trainer) = club(&pool, "ending", "Europe/Berlin").await;
    let start = today() + Duration::days(1);
    let mut new = event(
        "Term",
        start,
        time(18, 0),
        weekly(&[start.weekday_from_date()], 1, SeriesEnd::Count(10)),
    );
    new.details.trainers = vec![trainer];
    let created = create(&pool, society, admin, new).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let removed = calls::end_series(
        &mut tx,
        society,
        admin,
        created.id,
        start + Duration::days(20),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(removed, 7);
    assert_eq!(sessions_of(&pool, created.id).await.len(), 3);
    assert_eq!(fx::count(&pool, "notification_outbox").await, 7);
    events::extend_horizons(&pool).await.unwrap();
    assert_eq!(
        sessions_of(&pool, created.id).await.len(),
        3,
        "nothing comes back"
    );
    let mut tx = pool.begin().await.unwrap();
    calls::delete_event(&mut tx, society, admin, created.id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(fx::count(&pool, "occurrences").await, 0);
    assert_eq!(fx::count(&pool, "notification_outbox").await, 10);
    assert_eq!(
        fx::count(
            &pool,
            "audit_log where action in ('event.series_ended', 'event.deleted')"
        )
        .await,
        2
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn ending_a_series_keeps_sessions_that_started_or_have_attendance(pool: PgPool) {
    let (society, admin, trainer) = club(&pool, "history", "Europe/Berlin").await;
    let start = today() - Duration::days(7);
    let mut new = event(
        "Term",
        start,
        time(18, 0),
        weekly(&[start.weekday_from_date()], 1, SeriesEnd::Count(5)),
    );
    new.details.trainers = vec![trainer];
    let created = create(&pool, society, admin, new).await.unwrap();
    let ids = |pool: PgPool, event: EventId| async move {
        sqlx::query_scalar::<_, uuid::Uuid>(
            "select id from occurrences where event_id = $1 order by series_date",
        )
        .bind(event)
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let sessions = ids(pool.clone(), created.id).await;
    assert_eq!(sessions.len(), 5);
    // Last week's is past; today's is under way; next week's already has attendance (taken
    // early).
    sqlx::query(
        "update occurrences set starts_at = now() - interval '30 minutes', ends_at = now() + interval '30 minutes'
          where id = $1",
    )
    .bind(sessions[1])
    .execute(&pool)
    .await
    .unwrap();
    let member = fx::user(&pool, "present", false).await;
    sqlx::query(
        "insert into bookings (society_id, occurrence_id, user_id, status, confirmed_at, attendance, attendance_at)
         values ($1, $2, $3, 'confirmed', now(), 'present', now())",
    )
    .bind(society)
    .bind(sessions[2])
    .bind(member.id)
    .execute(&pool)
    .await
    .unwrap();
    // The admin ends the series yesterday: only the untouched sessions go.
    let mut tx = pool.begin().await.unwrap();
    let removed = calls::end_series(
        &mut tx,
        society,
        admin,
        created.id,
        today() - Duration::days(1),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(removed, 2);
    assert_eq!(ids(pool.clone(), created.id).await, sessions[..3].to_vec());
    let attended: i64 =
        sqlx::query_scalar("select count(*) from bookings where attendance is not null")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attended, 1, "the attendance is kept");
    // The series now ends with the last session kept, so nothing comes back.
    events::extend_horizons(&pool).await.unwrap();
    assert_eq!(sessions_of(&pool, created.id).await.len(), 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_trainer_made_a_member_comes_off_the_sessions_still_to_come(pool: PgPool) {
    let (society, admin, trainer) = club(&pool, "demoted", "Europe/Berlin").await;
    let start = today() - Duration::days(7);
    let mut new = event(
        "Squad",
        start,
        time(18, 0),
        weekly(&[start.weekday_from_date()], 1, SeriesEnd::Count(6)),
    );
    new.details.trainers = vec![trainer];
    let created = create(&pool, society, admin, new).await.unwrap();
    assert_eq!(fx::count(&pool, "occurrence_trainers").await, 6);
    let mut tx = pool.begin().await.unwrap();
    calls::set_role(&mut tx, society, admin, trainer, MembershipRole::Member)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // The past sessions keep who taught them; the coming ones and the event lose them.
    let left: i64 = sqlx::query_scalar(
        "select count(*) from occurrence_trainers ot join occurrences o on o.id = ot.occurrence_id
          where o.starts_at > now()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    assert!(fx::count(&pool, "occurrence_trainers").await >= 1);
    assert_eq!(fx::count(&pool, "event_trainers").await, 0);
    events::extend_horizons(&pool).await.unwrap();
    assert_eq!(sessions_of(&pool, created.id).await.len(), 6);
}
