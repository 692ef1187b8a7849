//! The roster: who keeps it, attendance and no-shows, walk-ins, admin overrides.

use app::access::{MembershipRole, MembershipStatus};
use app::bookings::db as bookings;
use app::bookings::{Attendance, BookingStatus};
use app::error::AppError;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use super::*;
use crate::fx;

async fn mark(
    pool: &PgPool,
    club: &Club,
    keeper: UserId,
    member: UserId,
    state: Option<Attendance>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    mark_seen(pool, club, keeper, member, state, None, now).await
}

/// A mark made on a roster kept offline, where the member showed as `seen`.
async fn mark_seen(
    pool: &PgPool,
    club: &Club,
    keeper: UserId,
    member: UserId,
    state: Option<Attendance>,
    seen: Option<bookings::Seen>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut tx = pool.begin().await.unwrap();
    let result = async {
        let k = bookings::roster_keeper(&mut tx, club.society, keeper, club.sessions[0]).await?;
        bookings::mark_attendance(&mut tx, &k, member, state, seen, now).await
    }
    .await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

async fn walk_in(pool: &PgPool, club: &Club, who: &str, now: DateTime<Utc>) -> AppResult<UserId> {
    let mut tx = pool.begin().await.unwrap();
    let result = async {
        let k =
            bookings::roster_keeper(&mut tx, club.society, club.trainer, club.sessions[0]).await?;
        bookings::add_walk_in(&mut tx, &k, who, now).await
    }
    .await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_sessions_trainers_and_the_admins_keep_its_roster(pool: PgPool) {
    let club = club(&pool, "keep", 5, 1).await;
    let session = club.sessions[0];
    let other_trainer = fx::user(&pool, "other-trainer", false).await;
    let mut conn = pool.acquire().await.unwrap();
    fx::put_membership(
        &mut conn,
        club.society,
        other_trainer.id,
        MembershipRole::Trainer,
        MembershipStatus::Approved,
    )
    .await
    .unwrap();
    let m = member(&pool, club.society, "keep-m").await;
    for (who, allowed) in [
        (club.trainer, true),
        (club.admin, true),
        (other_trainer.id, false),
        (m, false),
    ] {
        let result = bookings::roster_keeper(&mut conn, club.society, who, session).await;
        assert_eq!(result.is_ok(), allowed, "{who:?}");
        if !allowed {
            assert_eq!(result.unwrap_err(), AppError::Forbidden);
        }
    }
    // A session of another society is not found, even for its own admin's ids.
    let elsewhere = super::club(&pool, "keep-else", 5, 1).await;
    assert_eq!(
        bookings::roster_keeper(&mut conn, club.society, club.admin, elsewhere.sessions[0])
            .await
            .unwrap_err(),
        AppError::NotFound
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_no_show_is_a_strike_and_correcting_it_takes_the_strike_back(pool: PgPool) {
    let club = club(&pool, "attend", 5, 1).await;
    let session = club.sessions[0];
    let [a, b] = members(&pool, club.society, "a", 2).await[..] else {
        unreachable!()
    };
    book(&pool, club.society, a, session).await.unwrap();
    let starts = starts_at(&pool, session).await;
    let during = starts + Duration::minutes(10);
    let early = mark(
        &pool,
        &club,
        club.trainer,
        a,
        Some(Attendance::Present),
        starts - Duration::minutes(61),
    )
    .await;
    assert!(matches!(early, Err(AppError::Conflict(_))));
    mark(
        &pool,
        &club,
        club.trainer,
        a,
        Some(Attendance::Absent),
        during,
    )
    .await
    .unwrap();
    assert_eq!(fx::count(&pool, "strikes").await, 1);
    mark(&pool, &club, club.admin, a, Some(Attendance::Late), during)
        .await
        .unwrap();
    assert_eq!(fx::count(&pool, "strikes").await, 0);
    let stored: Option<Attendance> =
        sqlx::query_scalar("select attendance from bookings where user_id = $1")
            .bind(a)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, Some(Attendance::Late));
    // Someone without a spot has no attendance to mark.
    assert!(matches!(
        mark(
            &pool,
            &club,
            club.trainer,
            b,
            Some(Attendance::Present),
            during
        )
        .await,
        Err(AppError::Conflict(_))
    ));
    let actions = audit_actions(&pool, club.society).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "attendance.marked").count(),
        2
    );
    assert_eq!(
        outbox_for(&pool, a).await,
        [
            "booking.confirmed",
            "attendance.marked",
            "strike.recorded",
            "attendance.marked"
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_mark_made_offline_loses_to_another_keepers_mark_made_meanwhile(pool: PgPool) {
    use bookings::Seen;
    let club = club(&pool, "offline", 5, 1).await;
    let session = club.sessions[0];
    let [a, b, c] = members(&pool, club.society, "o", 3).await[..] else {
        unreachable!()
    };
    for m in [a, b, c] {
        book(&pool, club.society, m, session).await.unwrap();
    }
    let during = starts_at(&pool, session).await + Duration::minutes(5);
    let stored = |who: UserId| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<Attendance>>(
                "select attendance from bookings where user_id = $1 and status = 'confirmed'",
            )
            .bind(who)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    // The admin marks A late while the trainer, offline, still sees A unmarked.
    mark(&pool, &club, club.admin, a, Some(Attendance::Late), during)
        .await
        .unwrap();
    let refused = mark_seen(
        &pool,
        &club,
        club.trainer,
        a,
        Some(Attendance::Present),
        Some(Seen(None)),
        during,
    )
    .await;
    let Err(AppError::Conflict(message)) = refused else {
        panic!("expected a conflict, got {refused:?}");
    };
    assert!(message.contains("marked o000 late at"), "{message}");
    assert!(
        message.contains("your change (present) was not applied"),
        "{message}"
    );
    assert_eq!(
        stored(a).await,
        Some(Attendance::Late),
        "the first mark stands"
    );
    // Having seen the admin's mark, the trainer may change it.
    mark_seen(
        &pool,
        &club,
        club.trainer,
        a,
        Some(Attendance::Present),
        Some(Seen(Some(Attendance::Late))),
        during,
    )
    .await
    .unwrap();
    assert_eq!(stored(a).await, Some(Attendance::Present));
    // The same change sent again (a replay) is no change and no conflict.
    mark_seen(
        &pool,
        &club,
        club.trainer,
        a,
        Some(Attendance::Present),
        Some(Seen(None)),
        during,
    )
    .await
    .unwrap();
    // The trainer's own earlier mark is no conflict for their next one.
    mark_seen(
        &pool,
        &club,
        club.trainer,
        b,
        Some(Attendance::Present),
        Some(Seen(None)),
        during,
    )
    .await
    .unwrap();
    mark_seen(
        &pool,
        &club,
        club.trainer,
        b,
        Some(Attendance::Absent),
        Some(Seen(None)),
        during,
    )
    .await
    .unwrap();
    assert_eq!(stored(b).await, Some(Attendance::Absent));
    // A member who cancelled meanwhile: said so, nothing marked.
    let booking: BookingId =
        sqlx::query_scalar("select id from bookings where user_id = $1 and status = 'confirmed'")
            .bind(c)
            .fetch_one(&pool)
            .await
            .unwrap();
    cancel(&pool, c, booking).await.unwrap();
    let refused = mark_seen(
        &pool,
        &club,
        club.trainer,
        c,
        Some(Attendance::Present),
        Some(Seen(None)),
        during,
    )
    .await;
    let Err(AppError::Conflict(message)) = refused else {
        panic!("expected a conflict, got {refused:?}");
    };
    assert!(message.contains("cancelled their booking"), "{message}");
    let marks: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'attendance.marked'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(marks, 4, "only the applied marks are recorded");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_walk_in_joins_a_full_session_without_taking_a_spot(pool: PgPool) {
    let club = club(&pool, "walk", 1, 1).await;
    let session = club.sessions[0];
    let [a, b] = members(&pool, club.society, "w", 2).await[..] else {
        unreachable!()
    };
    book(&pool, club.society, a, session).await.unwrap();
    book(&pool, club.society, b, session).await.unwrap();
    let c = member(&pool, club.society, "carla").await;
    let during = starts_at(&pool, session).await + Duration::minutes(5);
    assert_eq!(
        walk_in(&pool, &club, "carla@example.org", during)
            .await
            .unwrap(),
        c
    );
    // b was waiting and came anyway: they leave the waitlist as a walk-in.
    assert_eq!(walk_in(&pool, &club, "W001", during).await.unwrap(), b);
    assert_eq!(
        counters(&pool, session).await,
        (1, 0, 1),
        "walk-ins take no spot"
    );
    let walk_ins: Vec<(UserId, bool, Option<Attendance>)> = sqlx::query_as(
        "select user_id, walk_in, attendance from bookings where occurrence_id = $1 and walk_in order by user_id",
    )
    .bind(session)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(walk_ins.len(), 2);
    assert!(walk_ins
        .iter()
        .all(|(_, w, att)| *w && *att == Some(Attendance::Present)));
    assert!(matches!(
        walk_in(&pool, &club, "carla@example.org", during).await,
        Err(AppError::Conflict(_))
    ));
    let stranger = fx::user(&pool, "outsider", false).await;
    assert!(walk_in(&pool, &club, &stranger.email, during)
        .await
        .unwrap_err()
        .field_message("who")
        .is_some());
    let mut conn = pool.acquire().await.unwrap();
    let keeper = bookings::roster_keeper(&mut conn, club.society, club.trainer, session)
        .await
        .unwrap();
    let roster = bookings::roster(&mut conn, &keeper, during).await.unwrap();
    assert_eq!(roster.confirmed.len(), 3);
    assert_eq!(roster.confirmed.iter().filter(|e| e.walk_in).count(), 2);
    assert!(roster.waitlist.is_empty());
    assert!(roster.attendance_open);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_admin_adds_and_removes_bookings_with_a_reason_and_no_strike(pool: PgPool) {
    let club = club(&pool, "override", 1, 1).await;
    let session = club.sessions[0];
    set_rules(&pool, club.society, |r| r.opens_days = 1).await;
    let [a, b] = members(&pool, club.society, "o", 2).await[..] else {
        unreachable!()
    };
    // Booking is not open yet for members; the admin may still book them.
    assert!(matches!(
        book(&pool, club.society, a, session).await,
        Err(AppError::Conflict(_))
    ));
    let missing_reason = as_admin(&pool, &club, |c, admin| {
        Box::pin(bookings::add_for(c, admin, session, a, " ", Utc::now()))
    })
    .await;
    assert!(missing_reason
        .unwrap_err()
        .field_message("reason")
        .is_some());
    let added = as_admin(&pool, &club, |c, admin| {
        Box::pin(bookings::add_for(
            c,
            admin,
            session,
            a,
            "Coach's pick",
            Utc::now(),
        ))
    })
    .await
    .unwrap();
    assert_eq!(added.status, BookingStatus::Confirmed);
    let second = as_admin(&pool, &club, |c, admin| {
        Box::pin(bookings::add_for(
            c,
            admin,
            session,
            b,
            "Reserve",
            Utc::now(),
        ))
    })
    .await
    .unwrap();
    assert_eq!(second.waitlist_position, Some(1), "capacity still holds");
    // Removing late is no strike for the member; the next person moves up.
    let late = starts_at(&pool, session).await - Duration::hours(1);
    as_admin(&pool, &club, |c, admin| {
        Box::pin(bookings::remove(c, admin, added.id, "Injured", late))
    })
    .await
    .unwrap();
    assert_eq!(fx::count(&pool, "strikes").await, 0);
    assert_eq!(state(&pool, session).await, (vec![b], vec![]));
    let actions = audit_actions(&pool, club.society).await;
    for action in ["booking.added", "booking.removed", "booking.promoted"] {
        assert!(actions.contains(&action.to_string()), "{action}");
    }
    // A plain member's proof cannot be had for this; another society's booking is not found.
    let elsewhere = super::club(&pool, "override-else", 5, 1).await;
    let x = member(&pool, elsewhere.society, "x").await;
    let theirs = book(&pool, elsewhere.society, x, elsewhere.sessions[0])
        .await
        .unwrap();
    assert_eq!(
        as_admin(&pool, &club, |c, admin| {
            Box::pin(bookings::remove(c, admin, theirs.id, "No", Utc::now()))
        })
        .await
        .unwrap_err(),
        AppError::NotFound
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_spot_with_attendance_taken_can_still_be_given_up_before_the_start(pool: PgPool) {
    let club = club(&pool, "ticked", 1, 1).await;
    let session = club.sessions[0];
    let [a, b] = members(&pool, club.society, "k", 2).await[..] else {
        unreachable!()
    };
    let booked = book(&pool, club.society, a, session).await.unwrap();
    book(&pool, club.society, b, session).await.unwrap();
    let starts = starts_at(&pool, session).await;
    let before = starts - Duration::minutes(30);
    mark(
        &pool,
        &club,
        club.trainer,
        a,
        Some(Attendance::Present),
        before,
    )
    .await
    .unwrap();
    // Closing is at the start by default, so the next person still moves up.
    let cancelled = cancel_at(&pool, a, booked.id, before).await.unwrap();
    assert!(cancelled.late);
    let attendance: Option<Attendance> =
        sqlx::query_scalar("select attendance from bookings where id = $1")
            .bind(booked.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attendance, None, "a cancelled booking has no attendance");
    assert_eq!(state(&pool, session).await, (vec![b], vec![]));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_check_in_code_marks_its_booking_present_and_nothing_else(pool: PgPool) {
    let club = club(&pool, "codes", 1, 1).await;
    let session = club.sessions[0];
    let [a, b, c] = members(&pool, club.society, "q", 3).await[..] else {
        unreachable!()
    };
    let booked = book(&pool, club.society, a, session).await.unwrap();
    let waiting = book(&pool, club.society, b, session).await.unwrap();
    assert_eq!(waiting.status, BookingStatus::Waitlisted);
    let other = another_session(&pool, &club, "Other", 9).await;
    let elsewhere = book(&pool, club.society, c, other).await.unwrap();
    let during = starts_at(&pool, session).await + Duration::minutes(5);
    let key = app::secret::SigningKey::from_bytes([3; 32]);
    let (society, trainer) = (club.society, club.trainer);
    let scan = |booking: BookingId| {
        let (pool, key) = (pool.clone(), key.clone());
        let code = bookings::checkin_code(&key, booking);
        async move {
            let read =
                bookings::read_checkin_code(&key, &format!("{}{code}", bookings::CHECKIN_PREFIX))
                    .expect("our own code reads back");
            let mut tx = pool.begin().await.unwrap();
            let k = bookings::roster_keeper(&mut tx, society, trainer, session)
                .await
                .unwrap();
            let done = bookings::check_in(&mut tx, &k, read, during).await;
            if done.is_ok() {
                tx.commit().await.unwrap();
            }
            done
        }
    };
    let first = scan(booked.id).await.unwrap();
    assert_eq!((first.user, first.already), (a, false));
    let again = scan(booked.id).await.unwrap();
    assert!(again.already, "a second scan changes nothing");
    let marks: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'attendance.marked'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(marks, 1);
    for (booking, expected) in [
        (waiting.id, "is on the waitlist, not booked"),
        (elsewhere.id, "This code is for another session: Other"),
    ] {
        match scan(booking).await {
            Err(AppError::Conflict(message)) => assert!(message.contains(expected), "{message}"),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    cancel(&pool, a, booked.id).await.unwrap();
    match scan(booked.id).await {
        Err(AppError::Conflict(message)) => {
            assert!(message.contains("cancelled their booking"), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}
