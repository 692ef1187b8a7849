//! Spots, the waitlist, cutoffs, limits, strikes and bans, and who may book.

use app::access::MembershipStatus;
use app::bookings::db as bookings;
use app::bookings::{BookingStatus, Standing};
use app::error::AppError;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use sqlx::PgPool;

use super::*;
use crate::fx;

fn conflict(result: AppResult<impl std::fmt::Debug>) -> String {
    match result {
        Err(AppError::Conflict(message)) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_full_session_puts_people_on_the_waitlist_in_the_order_they_came(pool: PgPool) {
    let club = club(&pool, "full", 2, 1).await;
    let session = club.sessions[0];
    let people = members(&pool, club.society, "m", 4).await;
    let mut answers = Vec::new();
    for p in &people {
        answers.push(book(&pool, club.society, *p, session).await.unwrap());
    }
    let shape: Vec<_> = answers
        .iter()
        .map(|b| (b.status, b.waitlist_position))
        .collect();
    assert_eq!(
        shape,
        [
            (BookingStatus::Confirmed, None),
            (BookingStatus::Confirmed, None),
            (BookingStatus::Waitlisted, Some(1)),
            (BookingStatus::Waitlisted, Some(2)),
        ]
    );
    assert_eq!(counters(&pool, session).await, (2, 2, 2));
    // Each booking has its audit row and its outbox row.
    let actions = audit_actions(&pool, club.society).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "booking.confirmed").count(),
        2
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "booking.waitlisted")
            .count(),
        2
    );
    assert_eq!(outbox_for(&pool, people[3]).await, ["booking.waitlisted"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_cancelled_spot_goes_to_the_first_person_waiting_in_the_same_transaction(pool: PgPool) {
    let club = club(&pool, "promote", 1, 1).await;
    let session = club.sessions[0];
    let [a, b, c] = members(&pool, club.society, "p", 3).await[..] else {
        unreachable!()
    };
    let first = book(&pool, club.society, a, session).await.unwrap();
    book(&pool, club.society, b, session).await.unwrap();
    book(&pool, club.society, c, session).await.unwrap();
    let cancelled = cancel(&pool, a, first.id).await.unwrap();
    assert!(!cancelled.late, "two days ahead is free");
    assert_eq!(state(&pool, session).await, (vec![b], vec![c]));
    assert_eq!(counters(&pool, session).await, (1, 1, 1));
    assert_eq!(
        outbox_for(&pool, b).await,
        ["booking.waitlisted", "booking.promoted"]
    );
    let mut conn = pool.acquire().await.unwrap();
    let mine = bookings::upcoming_bookings(&mut conn, c, Utc::now())
        .await
        .unwrap();
    assert_eq!(mine[0].waitlist_position, Some(1), "c moved up to first");
    assert!(audit_actions(&pool, club.society)
        .await
        .contains(&"booking.promoted".to_string()));
}

#[sqlx::test(migrations = "../migrations")]
async fn leaving_the_waitlist_closes_the_gap_and_frees_no_spot(pool: PgPool) {
    let club = club(&pool, "gap", 1, 1).await;
    let session = club.sessions[0];
    let people = members(&pool, club.society, "g", 4).await;
    let mut ids = Vec::new();
    for p in &people {
        ids.push(book(&pool, club.society, *p, session).await.unwrap().id);
    }
    cancel(&pool, people[2], ids[2]).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let last = bookings::upcoming_bookings(&mut conn, people[3], Utc::now())
        .await
        .unwrap();
    assert_eq!(last[0].waitlist_position, Some(2));
    assert_eq!(
        state(&pool, session).await,
        (vec![people[0]], vec![people[1], people[3]])
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn nobody_books_twice_and_the_database_refuses_a_second_active_row(pool: PgPool) {
    let club = club(&pool, "twice", 5, 1).await;
    let session = club.sessions[0];
    let m = member(&pool, club.society, "twice-m").await;
    book(&pool, club.society, m, session).await.unwrap();
    assert!(conflict(book(&pool, club.society, m, session).await).contains("already"));
    // Even a writer that skips the check cannot add a second active booking.
    let err = sqlx::query(
        "insert into bookings (society_id, occurrence_id, user_id, status, confirmed_at)
         values ($1, $2, $3, 'confirmed', now())",
    )
    .bind(club.society)
    .bind(session)
    .bind(m)
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(
        err.as_database_error().unwrap().constraint(),
        Some("bookings_active_key")
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_refuses_a_confirmation_past_the_capacity(pool: PgPool) {
    let club = club(&pool, "cap", 1, 1).await;
    let session = club.sessions[0];
    let [a, b] = members(&pool, club.society, "c", 2).await[..] else {
        unreachable!()
    };
    book(&pool, club.society, a, session).await.unwrap();
    let waiting = book(&pool, club.society, b, session).await.unwrap();
    let err = sqlx::query(
        "update bookings set status = 'confirmed', queue_number = null, confirmed_at = now() where id = $1",
    )
    .bind(waiting.id)
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(
        err.as_database_error().unwrap().constraint(),
        Some("bookings_capacity")
    );
    assert_eq!(counters(&pool, session).await, (1, 1, 1));
}

#[sqlx::test(migrations = "../migrations")]
async fn booking_opens_and_closes_at_the_exact_boundaries_in_the_societys_time(pool: PgPool) {
    // Tuesday 30 March 2027, 18:00 in Berlin (16:00 UTC): summer time began on Sunday the
    // 28th. Three days before at the same wall-clock time is Saturday 27th 18:00 winter time,
    // 17:00 UTC; a plain 72 hours would be 16:00 UTC.
    let club = club_on(
        &pool,
        "dst",
        10,
        NaiveDate::from_ymd_opt(2027, 3, 30).unwrap(),
        1,
    )
    .await;
    let session = club.sessions[0];
    set_rules(&pool, club.society, |r| {
        r.opens_days = 3;
        r.closes_minutes = 30;
    })
    .await;
    let starts = starts_at(&pool, session).await;
    assert_eq!(starts, Utc.with_ymd_and_hms(2027, 3, 30, 16, 0, 0).unwrap());
    let opens = Utc.with_ymd_and_hms(2027, 3, 27, 17, 0, 0).unwrap();
    let m = members(&pool, club.society, "b", 4).await;
    let early = book_at(
        &pool,
        club.society,
        m[0],
        session,
        opens - Duration::seconds(1),
    )
    .await;
    assert!(conflict(early).contains("opens on Sat 27 Mar 2027, 18:00"));
    book_at(&pool, club.society, m[0], session, opens)
        .await
        .expect("open at the exact minute");
    let closes = starts - Duration::minutes(30);
    book_at(
        &pool,
        club.society,
        m[1],
        session,
        closes - Duration::seconds(1),
    )
    .await
    .expect("still open a second before it closes");
    let late = book_at(&pool, club.society, m[2], session, closes).await;
    assert!(conflict(late).contains("closed at Tue 30 Mar 2027, 17:30"));
    let started = book_at(&pool, club.society, m[3], session, starts).await;
    assert!(conflict(started).contains("started"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_cancelled_session_cannot_be_booked(pool: PgPool) {
    let club = club(&pool, "off", 10, 1).await;
    let mut tx = pool.begin().await.unwrap();
    calls::cancel_occurrence(&mut tx, club.society, club.admin, club.sessions[0], "Storm")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let m = member(&pool, club.society, "off-m").await;
    assert!(conflict(book(&pool, club.society, m, club.sessions[0]).await).contains("cancelled"));
}

#[sqlx::test(migrations = "../migrations")]
async fn free_cancellation_ends_at_its_exact_instant_then_it_is_a_strike(pool: PgPool) {
    let club = club(&pool, "late", 10, 1).await;
    let session = club.sessions[0];
    let starts = starts_at(&pool, session).await;
    let free_until = starts - Duration::hours(6);
    let [a, b] = members(&pool, club.society, "l", 2).await[..] else {
        unreachable!()
    };
    let ba = book(&pool, club.society, a, session).await.unwrap();
    let bb = book(&pool, club.society, b, session).await.unwrap();
    assert!(!cancel_at(&pool, a, ba.id, free_until).await.unwrap().late);
    let late = cancel_at(&pool, b, bb.id, free_until + Duration::seconds(1))
        .await
        .unwrap();
    assert!(late.late);
    let strikes: Vec<(UserId, String)> =
        sqlx::query_as("select user_id, reason::text from strikes")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(strikes, [(b, "late_cancellation".to_string())]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_started_session_cannot_be_cancelled(pool: PgPool) {
    let club = club(&pool, "begun", 10, 1).await;
    let session = club.sessions[0];
    let m = member(&pool, club.society, "begun-m").await;
    let b = book(&pool, club.society, m, session).await.unwrap();
    let starts = starts_at(&pool, session).await;
    assert!(conflict(cancel_at(&pool, m, b.id, starts).await).contains("started"));
}

/// Books and cancels late (the society's free cancellation is set to end 30 days ahead),
/// `n` times, in `n` sessions of a weekly series.
async fn strike_out(pool: &PgPool, club: &Club, m: UserId, n: usize) {
    for session in &club.sessions[..n] {
        let b = book(pool, club.society, m, *session).await.unwrap();
        let c = cancel(pool, m, b.id).await.unwrap();
        assert!(c.late);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn strikes_within_the_window_ban_booking_until_a_date_an_admin_can_lift(pool: PgPool) {
    let club = club(&pool, "ban", 10, 5).await;
    set_rules(&pool, club.society, |r| {
        r.strike_limit = 2;
        r.strike_window_days = 30;
        r.ban_days = 7;
        r.free_cancel_hours = 720;
        r.opens_days = 60;
    })
    .await;
    let m = member(&pool, club.society, "ban-m").await;
    strike_out(&pool, &club, m, 2).await;
    let mut conn = pool.acquire().await.unwrap();
    let standing = bookings::standing(&mut conn, club.society, Some(m), Utc::now())
        .await
        .unwrap();
    let Standing::Banned { strikes, .. } = standing else {
        panic!("expected a ban, got {standing:?}")
    };
    assert_eq!(strikes, 2);
    let refused = book(&pool, club.society, m, club.sessions[4]).await;
    assert!(conflict(refused).contains("You cannot book until"));
    assert!(outbox_for(&pool, m)
        .await
        .contains(&"booking_ban.started".to_string()));
    as_admin(&pool, &club, |c, admin| {
        Box::pin(bookings::lift_ban(c, admin, m, Utc::now()))
    })
    .await
    .unwrap();
    book(&pool, club.society, m, club.sessions[4])
        .await
        .expect("the ban is lifted");
    let actions = audit_actions(&pool, club.society).await;
    assert!(actions.contains(&"booking_ban.started".to_string()));
    assert!(actions.contains(&"booking_ban.lifted".to_string()));
    // The strikes before the ban do not count again: one more is not a new ban.
    drop(conn);
    strike_out(&pool, &club, m, 1).await;
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        bookings::standing(&mut conn, club.society, Some(m), Utc::now())
            .await
            .unwrap(),
        Standing::Member
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn strikes_older_than_the_window_do_not_count(pool: PgPool) {
    let club = club(&pool, "window", 10, 3).await;
    set_rules(&pool, club.society, |r| {
        r.strike_limit = 2;
        r.strike_window_days = 3;
        r.free_cancel_hours = 720;
    })
    .await;
    let m = member(&pool, club.society, "window-m").await;
    strike_out(&pool, &club, m, 1).await;
    // Pretend the first strike was four days ago: outside the three-day window.
    sqlx::query("update strikes set created_at = created_at - interval '4 days'")
        .execute(&pool)
        .await
        .unwrap();
    let b = book(&pool, club.society, m, club.sessions[1])
        .await
        .unwrap();
    assert!(cancel(&pool, m, b.id).await.unwrap().late);
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        bookings::standing(&mut conn, club.society, Some(m), Utc::now())
            .await
            .unwrap(),
        Standing::Member
    );
    assert_eq!(fx::count(&pool, "booking_bans").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_member_holds_at_most_the_societys_number_of_bookings(pool: PgPool) {
    let club = club(&pool, "limit", 10, 4).await;
    set_rules(&pool, club.society, |r| {
        r.max_active = 2;
        r.opens_days = 60;
    })
    .await;
    let m = member(&pool, club.society, "limit-m").await;
    let now = starts_at(&pool, club.sessions[0]).await - Duration::days(1);
    book_at(&pool, club.society, m, club.sessions[0], now)
        .await
        .unwrap();
    book_at(&pool, club.society, m, club.sessions[1], now)
        .await
        .unwrap();
    let third = book_at(&pool, club.society, m, club.sessions[2], now).await;
    assert!(conflict(third).contains("2 bookings for sessions to come"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_member_books_at_most_the_weekly_number_in_one_calendar_week(pool: PgPool) {
    // Two events on the same day: the second booking of that week is one too many.
    let club = club(&pool, "week", 10, 1).await;
    set_rules(&pool, club.society, |r| r.max_per_week = 1).await;
    let other = another_session(&pool, &club, "Other", 8).await;
    let m = member(&pool, club.society, "week-m").await;
    book(&pool, club.society, m, club.sessions[0])
        .await
        .unwrap();
    let second = book(&pool, club.society, m, other).await;
    assert!(conflict(second).contains("per week"));
}

#[sqlx::test(migrations = "../migrations")]
async fn only_approved_members_book_and_the_others_hear_why(pool: PgPool) {
    let club = club(&pool, "who", 10, 1).await;
    let session = club.sessions[0];
    let mut conn = pool.acquire().await.unwrap();
    for (status, says) in [
        (MembershipStatus::Pending, "waiting for an admin"),
        (MembershipStatus::Rejected, "not approved"),
        (MembershipStatus::Suspended, "suspended"),
    ] {
        let u = fx::user(&pool, status.as_str(), false).await;
        fx::put_membership(
            &mut conn,
            club.society,
            u.id,
            app::access::MembershipRole::Member,
            status,
        )
        .await
        .unwrap();
        assert!(conflict(book(&pool, club.society, u.id, session).await).contains(says));
    }
    let stranger = fx::user(&pool, "stranger", false).await;
    assert_eq!(
        book(&pool, club.society, stranger.id, session)
            .await
            .unwrap_err(),
        AppError::Forbidden
    );
    // Another society's session is not found for this society's member.
    let elsewhere = super::club(&pool, "elsewhere", 10, 1).await;
    let m = member(&pool, club.society, "who-m").await;
    assert_eq!(
        book(&pool, club.society, m, elsewhere.sessions[0])
            .await
            .unwrap_err(),
        AppError::NotFound
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn raising_the_capacity_moves_people_up_and_lowering_it_removes_nobody(pool: PgPool) {
    let club = club(&pool, "resize", 2, 1).await;
    let session = club.sessions[0];
    let people = members(&pool, club.society, "r", 5).await;
    for p in &people {
        book(&pool, club.society, *p, session).await.unwrap();
    }
    let mut tx = pool.begin().await.unwrap();
    let detail = calls::occurrence(&mut tx, club.society, Some(club.admin), session)
        .await
        .unwrap();
    let change = |capacity| app::events::OccurrenceChange {
        start_date: detail.summary.starts_local.date(),
        start_time: detail.summary.starts_local.time(),
        duration_minutes: 90,
        location: detail.summary.location.clone(),
        capacity,
        trainers: detail.trainer_ids.clone(),
    };
    calls::change_occurrence(&mut tx, club.society, club.admin, session, change(4))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut first_four = people[..4].to_vec();
    first_four.sort_by_key(|u| u.0);
    assert_eq!(state(&pool, session).await, (first_four, vec![people[4]]));
    let mut tx = pool.begin().await.unwrap();
    calls::change_occurrence(&mut tx, club.society, club.admin, session, change(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(counters(&pool, session).await, (4, 1, 1), "nobody removed");
    // With fewer spots than people, a cancellation frees no spot for the next in line.
    let first: BookingId =
        sqlx::query_scalar("select id from bookings where user_id = $1 and occurrence_id = $2")
            .bind(people[0])
            .bind(session)
            .fetch_one(&pool)
            .await
            .unwrap();
    cancel(&pool, people[0], first).await.unwrap();
    assert_eq!(counters(&pool, session).await, (3, 1, 1));
}

#[sqlx::test(migrations = "../migrations")]
async fn suspending_a_member_gives_their_spots_to_the_next_people(pool: PgPool) {
    let club = club(&pool, "suspend", 1, 1).await;
    let session = club.sessions[0];
    let [a, b] = members(&pool, club.society, "s", 2).await[..] else {
        unreachable!()
    };
    book(&pool, club.society, a, session).await.unwrap();
    book(&pool, club.society, b, session).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    calls::suspend(&mut tx, club.society, club.admin, a, "Unpaid fees")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(state(&pool, session).await, (vec![b], vec![]));
}

#[sqlx::test(migrations = "../migrations")]
async fn cancelling_a_session_tells_who_booked_and_an_event_with_bookings_stays(pool: PgPool) {
    let club = club(&pool, "storm", 1, 1).await;
    let session = club.sessions[0];
    let [a, b] = members(&pool, club.society, "t", 2).await[..] else {
        unreachable!()
    };
    book(&pool, club.society, a, session).await.unwrap();
    book(&pool, club.society, b, session).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let refused = calls::delete_event(&mut tx, club.society, club.admin, club.event).await;
    assert!(conflict(refused).contains("booked"));
    drop(tx);
    let mut tx = pool.begin().await.unwrap();
    calls::cancel_occurrence(&mut tx, club.society, club.admin, session, "Storm")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    for who in [a, b, club.trainer] {
        assert!(
            outbox_for(&pool, who)
                .await
                .contains(&"occurrence.cancelled".to_string()),
            "{who:?}"
        );
    }
}
