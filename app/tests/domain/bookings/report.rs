//! Reports: fill and no-show rates over a date range, and who sees which attendance lines.

use app::bookings::db as bookings;
use app::bookings::Attendance;
use app::error::AppError;
use chrono::{Duration, Utc};
use sqlx::PgPool;

use super::*;

#[sqlx::test(migrations = "../migrations")]
async fn rates_count_bookings_against_spots_and_no_shows_against_attendance_taken(pool: PgPool) {
    let club = club(&pool, "report", 4, 2).await;
    let session = club.sessions[0];
    let people = members(&pool, club.society, "p", 3).await;
    for p in &people {
        book(&pool, club.society, *p, session).await.unwrap();
    }
    // Two of three came, one did not; the second session has nobody yet.
    let during = starts_at(&pool, session).await + Duration::minutes(5);
    let mut tx = pool.begin().await.unwrap();
    let keeper = bookings::roster_keeper(&mut tx, club.society, club.trainer, session)
        .await
        .unwrap();
    for (p, state) in people
        .iter()
        .zip([Attendance::Present, Attendance::Late, Attendance::Absent])
    {
        bookings::mark_attendance(&mut tx, &keeper, *p, Some(state), None, during)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let today = Utc::now().date_naive();
    let mut conn = pool.acquire().await.unwrap();
    let admin = app::access::require_admin(&mut conn, club.society, club.admin)
        .await
        .unwrap();
    let report = bookings::report(&mut conn, &admin, today, today + Duration::days(20))
        .await
        .unwrap();
    let event = &report.events[0];
    assert_eq!((event.sessions, event.capacity, event.booked), (2, 8, 3));
    assert_eq!((event.attended, event.no_shows), (2, 1));
    assert_eq!(event.fill_rate, Some(3.0 / 8.0));
    assert_eq!(event.no_show_rate, Some(1.0 / 3.0));
    assert_eq!(report.members.len(), 3);
    assert_eq!(report.members.iter().map(|m| m.no_shows).sum::<i64>(), 1);
    // A range before the sessions is empty; a range the wrong way round or over a year is refused.
    let empty = bookings::report(
        &mut conn,
        &admin,
        today - Duration::days(9),
        today - Duration::days(1),
    )
    .await
    .unwrap();
    assert!(empty.events.is_empty() && empty.members.is_empty());
    for (from, to) in [
        (today, today - Duration::days(1)),
        (today, today + Duration::days(366)),
    ] {
        let refused = bookings::report(&mut conn, &admin, from, to)
            .await
            .unwrap_err();
        assert!(refused.field_message("to").is_some(), "{from}..{to}");
    }
}

/// The attendance lines of the coming week that `staff` may export.
async fn lines(pool: &PgPool, club: &Club, staff: UserId) -> Vec<app::bookings::AttendanceLine> {
    let today = Utc::now().date_naive();
    let mut conn = pool.acquire().await.unwrap();
    let staff = app::access::require_staff(&mut conn, club.society, staff)
        .await
        .unwrap();
    bookings::range_lines(&mut conn, &staff, today, today + Duration::days(7))
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn trainers_export_the_sessions_they_teach_and_admins_every_session(pool: PgPool) {
    let club = club(&pool, "export", 5, 1).await;
    let m = member(&pool, club.society, "exported").await;
    book(&pool, club.society, m, club.sessions[0])
        .await
        .unwrap();
    // A second event nobody teaches.
    let other = another_session(&pool, &club, "Untaught", 9).await;
    book(&pool, club.society, m, other).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let taught = lines(&pool, &club, club.trainer).await;
    assert_eq!(taught.len(), 1);
    assert_eq!(taught[0].title, "Squad");
    assert_eq!(lines(&pool, &club, club.admin).await.len(), 2);
    assert_eq!(
        app::access::require_staff(&mut conn, club.society, m)
            .await
            .unwrap_err(),
        AppError::Forbidden,
        "a member exports nothing"
    );
}
