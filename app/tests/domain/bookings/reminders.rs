//! Reminders before a session: once per booking and offset, at the society's wall-clock time,
//! again for a session that moved, never for a booking made after the reminder was due.

use super::*;

async fn reminders(pool: &PgPool) -> Vec<(uuid::Uuid, String)> {
    sqlx::query_as(
        "select recipient_id, dedupe_key from notification_outbox
          where kind = 'booking.reminder' order by id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn each_booking_gets_each_reminder_once_and_a_moved_session_again(pool: PgPool) {
    let club = club(&pool, "remind", 10, 1).await;
    let session = club.sessions[0];
    set_rules(&pool, club.society, |r| {
        r.first_reminder_hours = 24;
        r.second_reminder_hours = 2;
    })
    .await;
    let max = member(&pool, club.society, "max").await;
    let jo = member(&pool, club.society, "jo").await;
    let now = Utc::now();
    book_at(&pool, club.society, max, session, now)
        .await
        .unwrap();
    book_at(&pool, club.society, jo, session, now)
        .await
        .unwrap();
    let start = starts_at(&pool, session).await;

    assert_eq!(
        bookings::queue_reminders(&pool, now).await.unwrap(),
        0,
        "not due yet"
    );
    let day_before = bookings::reminder_due(chrono_tz::Europe::Berlin, start, 24);
    assert_eq!(
        bookings::queue_reminders(&pool, day_before).await.unwrap(),
        2
    );
    assert_eq!(
        bookings::queue_reminders(&pool, day_before + Duration::minutes(1))
            .await
            .unwrap(),
        0,
        "the job runs every minute; each reminder is queued once"
    );
    let two_hours = start - Duration::hours(2);
    assert_eq!(
        bookings::queue_reminders(&pool, two_hours).await.unwrap(),
        2
    );
    assert_eq!(reminders(&pool).await.len(), 4);

    // The session moves a day later: its reminders are due again, for the new time.
    let moved = start + Duration::days(1);
    sqlx::query(
        "update occurrences set starts_at = $2, ends_at = $2 + interval '90 minutes' where id = $1",
    )
    .bind(session)
    .bind(moved)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        bookings::queue_reminders(&pool, moved - Duration::hours(23))
            .await
            .unwrap(),
        2
    );
    assert_eq!(reminders(&pool).await.len(), 6);
}

#[sqlx::test(migrations = "../migrations")]
async fn no_reminder_for_a_booking_made_after_it_was_due_or_for_cancelled_ones(pool: PgPool) {
    let club = club(&pool, "late", 10, 1).await;
    let session = club.sessions[0];
    // The session is two days ahead: a 72-hour reminder was due yesterday.
    set_rules(&pool, club.society, |r| r.first_reminder_hours = 72).await;
    let max = member(&pool, club.society, "max").await;
    book(&pool, club.society, max, session).await.unwrap();
    assert_eq!(
        bookings::queue_reminders(&pool, Utc::now()).await.unwrap(),
        0
    );

    // A 24-hour reminder for someone who cancelled before it was due: none.
    set_rules(&pool, club.society, |r| r.first_reminder_hours = 24).await;
    let jo = member(&pool, club.society, "jo").await;
    let booking = book(&pool, club.society, jo, session).await.unwrap();
    cancel(&pool, jo, booking.id).await.unwrap();
    let start = starts_at(&pool, session).await;
    let queued = bookings::queue_reminders(&pool, start - Duration::hours(23))
        .await
        .unwrap();
    assert_eq!(queued, 1, "only Max, who still has his spot");
    assert_eq!(reminders(&pool).await[0].0, max.0);
}

/// As the club's admin: session `id` now starts at `at` (Berlin time) with `capacity` spots.
async fn change(
    pool: &PgPool,
    club: &Club,
    id: OccurrenceId,
    at: DateTime<chrono_tz::Tz>,
    capacity: i32,
) {
    let mut tx = pool.begin().await.unwrap();
    calls::change_occurrence(
        &mut tx,
        club.society,
        club.admin,
        id,
        app::events::OccurrenceChange {
            start_date: at.date_naive(),
            start_time: at.time(),
            duration_minutes: 90,
            location: "Boathouse".into(),
            capacity,
            trainers: vec![club.trainer],
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn moving_a_session_tells_its_people_with_the_old_and_new_time(pool: PgPool) {
    let club = club(&pool, "moved", 10, 1).await;
    let session = club.sessions[0];
    let max = member(&pool, club.society, "max").await;
    book(&pool, club.society, max, session).await.unwrap();
    let was = starts_at(&pool, session).await;
    let later = (was + Duration::hours(2)).with_timezone(&chrono_tz::Europe::Berlin);
    change(&pool, &club, session, later, 10).await;
    let moved: Vec<(uuid::Uuid, serde_json::Value)> = sqlx::query_as(
        "select recipient_id, payload from notification_outbox where kind = 'occurrence.moved' order by recipient_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut people: Vec<uuid::Uuid> = moved.iter().map(|(p, _)| *p).collect();
    let mut expected = vec![max.0, club.trainer.0];
    people.sort();
    expected.sort();
    assert_eq!(people, expected, "the booked member and the trainer");
    let payload = &moved[0].1;
    let new_start: chrono::DateTime<Utc> =
        serde_json::from_value(payload["starts_at"].clone()).unwrap();
    let old_start: chrono::DateTime<Utc> =
        serde_json::from_value(payload["was_starts_at"].clone()).unwrap();
    assert_eq!((old_start, new_start), (was, was + Duration::hours(2)));
    // A change that keeps the time and place tells nobody.
    change(&pool, &club, session, later, 12).await;
    let count: i64 = sqlx::query_scalar(
        "select count(*) from notification_outbox where kind = 'occurrence.moved'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(count, 2);
}
