//! Concurrency: the session row lock decides who gets the last spot, 200 people booking ten
//! spots at once, and a mixed workload that must neither break the rules nor deadlock.

use std::sync::Arc;

use app::bookings::db as bookings;
use app::bookings::BookingStatus;
use app::error::AppError;
use chrono::Utc;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::*;
use crate::fx;

/// A pool with room for many transactions at once (the test's own is small).
async fn wide_pool(pool: &PgPool, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_second_booker_of_the_last_spot_waits_for_the_first_and_then_waits_in_line(
    pool: PgPool,
) {
    let club = club(&pool, "last-spot", 1, 1).await;
    let session = club.sessions[0];
    let [a, b] = members(&pool, club.society, "r", 2).await[..] else {
        unreachable!()
    };
    // The first takes the last spot and holds its transaction open.
    let mut first = pool.begin().await.unwrap();
    let booker = bookings::lock_booker(&mut first, club.society, a, Utc::now())
        .await
        .unwrap();
    let got = bookings::book(&mut first, &booker, session, Utc::now())
        .await
        .unwrap();
    assert_eq!(got.status, BookingStatus::Confirmed);
    let society = club.society;
    let second = fx::in_background(&pool, move |c| {
        Box::pin(async move {
            let booker = bookings::lock_booker(c, society, b, Utc::now()).await?;
            bookings::book(c, &booker, session, Utc::now()).await
        })
    });
    // The second waits on the session row; it cannot have counted the spot as free.
    fx::wait_until_blocked(&pool, 1).await;
    first.commit().await.unwrap();
    let waited = second.await.unwrap().unwrap();
    assert_eq!(waited.status, BookingStatus::Waitlisted);
    assert_eq!(waited.waitlist_position, Some(1));
}

#[sqlx::test(migrations = "../migrations")]
async fn two_hundred_people_booking_ten_spots_at_once_fill_them_and_queue_in_order(pool: PgPool) {
    let club = club(&pool, "rush", 10, 1).await;
    let session = club.sessions[0];
    let people = members(&pool, club.society, "rush", 200).await;
    let wide = wide_pool(&pool, 40).await;
    let start = Arc::new(tokio::sync::Barrier::new(people.len()));
    let tasks: Vec<_> = people
        .iter()
        .map(|p| {
            let (pool, start, p, society) = (wide.clone(), start.clone(), *p, club.society);
            tokio::spawn(async move {
                start.wait().await;
                book(&pool, society, p, session).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().expect("no booking fails"));
    }
    let confirmed = results
        .iter()
        .filter(|b| b.status == BookingStatus::Confirmed)
        .count();
    assert_eq!(confirmed, 10);
    let mut positions: Vec<i64> = results.iter().filter_map(|b| b.waitlist_position).collect();
    positions.sort();
    assert_eq!(positions, (1..=190).collect::<Vec<i64>>());
    assert_eq!(counters(&pool, session).await, (10, 190, 10));
    // The positions people were told are the order the database keeps.
    let (_, queue) = state(&pool, session).await;
    let mut told: Vec<_> = results
        .iter()
        .filter_map(|b| b.waitlist_position.map(|p| (p, b.id)))
        .collect();
    told.sort_by_key(|(p, _)| *p);
    let queued: Vec<BookingId> = sqlx::query_scalar(
        "select id from bookings where occurrence_id = $1 and status = 'waitlisted' order by queue_number",
    )
    .bind(session)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        told.into_iter().map(|(_, id)| id).collect::<Vec<_>>(),
        queued
    );
    assert_eq!(queue.len(), 190);
}

/// What one task of the mixed workload does.
#[derive(Debug, Clone, Copy)]
enum Step {
    Book,
    Cancel,
    Excuse,
    Capacity(i32),
}

#[sqlx::test(migrations = "../migrations")]
async fn a_mixed_workload_on_one_session_keeps_every_rule_and_never_deadlocks(pool: PgPool) {
    let club = club(&pool, "mixed", 5, 2).await;
    let session = club.sessions[0];
    let people = members(&pool, club.society, "mix", 30).await;
    // Half of them are enrolled in the term (their bookings can be excused).
    let now = Utc::now();
    for p in &people[..15] {
        let mut tx = pool.begin().await.unwrap();
        let booker = bookings::lock_booker(&mut tx, club.society, *p, now)
            .await
            .unwrap();
        bookings::enrol(&mut tx, &booker, club.event, None, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let wide = wide_pool(&pool, 30).await;
    let club = Arc::new(club);
    let mut tasks = Vec::new();
    for round in 0..6 {
        for (i, p) in people.iter().enumerate() {
            let step = match (i + round) % 7 {
                0..=2 => Step::Book,
                3..=4 => Step::Cancel,
                5 => Step::Excuse,
                _ => Step::Capacity(3 + ((i + round) % 5) as i32),
            };
            let (pool, club, p) = (wide.clone(), club.clone(), *p);
            tasks.push(tokio::spawn(async move {
                run(&pool, &club, p, session, step).await
            }));
        }
    }
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) | Err(AppError::Conflict(_)) | Err(AppError::NotFound) => {}
            Err(e) => panic!("unexpected failure (a deadlock would be Internal): {e:?}"),
        }
    }
    check_invariants(&pool, session).await;
}

/// One step of the mixed workload as the server would run it.
async fn run(
    pool: &PgPool,
    club: &Club,
    user: UserId,
    session: OccurrenceId,
    step: Step,
) -> AppResult<()> {
    let now = Utc::now();
    let mine: Option<BookingId> = sqlx::query_scalar(
        "select id from bookings where occurrence_id = $1 and user_id = $2 and status in ('confirmed', 'waitlisted')",
    )
    .bind(session)
    .bind(user)
    .fetch_optional(pool)
    .await
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    match step {
        Step::Book => {
            let booker = bookings::lock_booker(&mut tx, club.society, user, now).await?;
            bookings::book(&mut tx, &booker, session, now).await?;
        }
        Step::Cancel => {
            bookings::cancel(&mut tx, user, mine.ok_or(AppError::NotFound)?, now).await?;
        }
        Step::Excuse => {
            bookings::excuse(&mut tx, user, mine.ok_or(AppError::NotFound)?, now).await?;
        }
        Step::Capacity(capacity) => {
            let admin = app::access::lock_as_admin(&mut tx, club.society, club.admin).await?;
            let detail = {
                let reader =
                    crate::calls::calendar_reader(&mut tx, club.society, Some(club.admin)).await?;
                app::events::db::occurrence(&mut tx, &reader, session).await?
            };
            app::events::db::change_occurrence(
                &mut tx,
                &admin,
                session,
                app::events::OccurrenceChange {
                    start_date: detail.summary.starts_local.date(),
                    start_time: detail.summary.starts_local.time(),
                    duration_minutes: 90,
                    location: detail.summary.location,
                    capacity,
                    trainers: detail.trainer_ids,
                },
            )
            .await?;
        }
    }
    tx.commit().await.unwrap();
    Ok(())
}

/// The rules that must hold after any sequence of changes: the counters match the rows,
/// nobody waits while a spot is free, the waitlist is 1..n in join order, one active booking
/// per person.
pub async fn check_invariants(pool: &PgPool, session: OccurrenceId) {
    let (confirmed, waitlisted, capacity) = counters(pool, session).await;
    let (people, queue) = state(pool, session).await;
    let walk_ins: i64 = sqlx::query_scalar(
        "select count(*) from bookings where occurrence_id = $1 and status = 'confirmed' and walk_in",
    )
    .bind(session)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        confirmed as usize,
        people.len() - walk_ins as usize,
        "counter of spots"
    );
    assert_eq!(waitlisted as usize, queue.len(), "counter of the waitlist");
    if !queue.is_empty() {
        assert!(
            confirmed >= capacity,
            "{} waiting while {} of {capacity} spots are taken",
            queue.len(),
            confirmed
        );
    }
    let mut everyone: Vec<_> = people.iter().chain(queue.iter()).collect();
    let total = everyone.len();
    everyone.sort_by_key(|u| u.0);
    everyone.dedup();
    assert_eq!(everyone.len(), total, "one active booking per person");
    let positions: Vec<i64> = sqlx::query_scalar(
        "select rank() over (order by queue_number) from bookings
          where occurrence_id = $1 and status = 'waitlisted' order by queue_number",
    )
    .bind(session)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(positions, (1..=queue.len() as i64).collect::<Vec<_>>());
}
