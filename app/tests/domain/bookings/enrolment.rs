//! Term enrolment: a whole weekly series in one step, absences, and sessions added later.

use app::bookings::db as bookings;
use app::bookings::BookingStatus;
use app::error::AppError;
use chrono::{Duration, Utc};
use sqlx::PgPool;

use super::*;

async fn enrol(
    pool: &PgPool,
    club: &Club,
    user: UserId,
    until: Option<NaiveDate>,
) -> AppResult<app::bookings::Enrolment> {
    let mut tx = pool.begin().await.unwrap();
    let result = async {
        let booker = bookings::lock_booker(&mut tx, club.society, user, Utc::now()).await?;
        bookings::enrol(&mut tx, &booker, club.event, until, Utc::now()).await
    }
    .await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

async fn booking_of(pool: &PgPool, user: UserId, session: OccurrenceId) -> (BookingId, String) {
    sqlx::query_as(
        "select id, status::text from bookings where user_id = $1 and occurrence_id = $2
          order by created_at desc limit 1",
    )
    .bind(user)
    .bind(session)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn enrolling_holds_a_spot_where_there_is_room_and_a_waitlist_place_where_full(pool: PgPool) {
    let club = club(&pool, "term", 1, 4).await;
    // Booking opens a year ahead here, so the term's sessions are all bookable now.
    set_rules(&pool, club.society, |r| r.opens_days = 365).await;
    let early = member(&pool, club.society, "early").await;
    // The second session is full already.
    book(&pool, club.society, early, club.sessions[1])
        .await
        .unwrap();
    let m = member(&pool, club.society, "enrolled").await;
    let enrolment = enrol(&pool, &club, m, None).await.unwrap();
    assert_eq!((enrolment.confirmed, enrolment.waitlisted), (3, 1));
    assert_eq!(booking_of(&pool, m, club.sessions[1]).await.1, "waitlisted");
    // One outbox row for the enrolment, one audit row per session plus the enrolment's.
    assert_eq!(outbox_for(&pool, m).await, ["enrolment.created"]);
    let actions = audit_actions(&pool, club.society).await;
    assert_eq!(
        actions.iter().filter(|a| a.starts_with("booking.")).count(),
        5
    );
    assert!(actions.contains(&"enrolment.created".to_string()));
    assert!(matches!(
        enrol(&pool, &club, m, None).await,
        Err(AppError::Conflict(_))
    ));
}

#[sqlx::test(migrations = "../migrations")]
async fn term_bookings_do_not_count_towards_the_one_off_limit(pool: PgPool) {
    let club = club(&pool, "term-limit", 5, 6).await;
    set_rules(&pool, club.society, |r| {
        r.max_active = 1;
        r.opens_days = 60;
    })
    .await;
    let m = member(&pool, club.society, "limited").await;
    let fourth = Utc::now().date_naive() + Duration::days(23);
    assert_eq!(
        enrol(&pool, &club, m, Some(fourth))
            .await
            .unwrap()
            .confirmed,
        4
    );
    book(&pool, club.society, m, club.sessions[4])
        .await
        .expect("the four term bookings do not count");
    assert!(matches!(
        book(&pool, club.society, m, club.sessions[5]).await,
        Err(AppError::Conflict(_))
    ));
}

#[sqlx::test(migrations = "../migrations")]
async fn enrolling_up_to_a_date_books_only_the_sessions_until_then(pool: PgPool) {
    let club = club(&pool, "until", 5, 4).await;
    let m = member(&pool, club.society, "until-m").await;
    let second = Utc::now().date_naive() + Duration::days(9);
    let enrolment = enrol(&pool, &club, m, Some(second)).await.unwrap();
    assert_eq!(enrolment.confirmed, 2);
    let past = enrol(
        &pool,
        &club,
        member(&pool, club.society, "p").await,
        Some(Utc::now().date_naive() - Duration::days(1)),
    )
    .await;
    assert!(past.unwrap_err().field_message("until").is_some());
}

#[sqlx::test(migrations = "../migrations")]
async fn an_absence_frees_that_spot_for_the_next_person_and_keeps_the_term(pool: PgPool) {
    let club = club(&pool, "absence", 1, 3).await;
    // Booking opens a year ahead here, so the term's sessions are all bookable now.
    set_rules(&pool, club.society, |r| r.opens_days = 365).await;
    let m = member(&pool, club.society, "absent-m").await;
    enrol(&pool, &club, m, None).await.unwrap();
    let waiting = member(&pool, club.society, "waiting").await;
    book(&pool, club.society, waiting, club.sessions[1])
        .await
        .unwrap();
    let (id, _) = booking_of(&pool, m, club.sessions[1]).await;
    let mut tx = pool.begin().await.unwrap();
    let excused = bookings::excuse(&mut tx, m, id, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(excused.status, BookingStatus::Excused);
    assert!(!excused.late);
    assert_eq!(
        state(&pool, club.sessions[1]).await,
        (vec![waiting], vec![])
    );
    // Still enrolled: the other sessions keep their spot.
    assert_eq!(booking_of(&pool, m, club.sessions[2]).await.1, "confirmed");
    let enrolled: i64 = sqlx::query_scalar(
        "select count(*) from enrolments where user_id = $1 and ended_at is null",
    )
    .bind(m)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(enrolled, 1);
    // A one-off booking cannot be "excused"; it is cancelled.
    let other = super::club(&pool, "absence-single", 5, 1).await;
    let o = member(&pool, other.society, "single-m").await;
    let b = book(&pool, other.society, o, other.sessions[0])
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    assert!(matches!(
        bookings::excuse(&mut tx, o, b.id, Utc::now()).await,
        Err(AppError::Conflict(_))
    ));
}

#[sqlx::test(migrations = "../migrations")]
async fn ending_an_enrolment_cancels_its_coming_bookings(pool: PgPool) {
    let club = club(&pool, "end-term", 3, 3).await;
    // Booking opens a year ahead here, so the term's sessions are all bookable now.
    set_rules(&pool, club.society, |r| r.opens_days = 365).await;
    let m = member(&pool, club.society, "leaver").await;
    let enrolment = enrol(&pool, &club, m, None).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let cancelled = bookings::end_enrolment(&mut tx, m, enrolment.id, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(cancelled, 3);
    for session in &club.sessions {
        assert_eq!(counters(&pool, *session).await.0, 0);
    }
    // Someone else's enrolment is not found.
    let other = member(&pool, club.society, "other").await;
    let mine = enrol(&pool, &club, other, None).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    assert_eq!(
        bookings::end_enrolment(&mut tx, m, mine.id, Utc::now()).await,
        Err(AppError::NotFound)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn sessions_the_horizon_adds_later_are_booked_for_the_enrolled(pool: PgPool) {
    // A long series: only the first HORIZON_WEEKS exist as rows.
    let club = club(&pool, "horizon", 5, 40).await;
    // Booking opens a year ahead here, so the term's sessions are all bookable now.
    set_rules(&pool, club.society, |r| r.opens_days = 365).await;
    let m = member(&pool, club.society, "long-m").await;
    let before = enrol(&pool, &club, m, None).await.unwrap();
    assert_eq!(before.confirmed as usize, club.sessions.len());
    // Pretend time passed: the series' rows end a few weeks earlier than the horizon.
    let cut = 4;
    let last_kept = club.sessions.len() - cut;
    sqlx::query("delete from occurrences where event_id = $1 and id <> all($2)")
        .bind(club.event)
        .bind(
            club.sessions[..last_kept]
                .iter()
                .map(|s| s.0)
                .collect::<Vec<_>>(),
        )
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "update events set generated_until = (select max(series_date) from occurrences where event_id = $1) where id = $1",
    )
    .bind(club.event)
    .execute(&pool)
    .await
    .unwrap();
    let made = app::events::db::extend_horizons(&pool).await.unwrap();
    assert_eq!(made as usize, cut);
    let booked: i64 = sqlx::query_scalar(
        "select count(*) from bookings where user_id = $1 and status = 'confirmed'",
    )
    .bind(m)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(booked as usize, club.sessions.len());
}

#[sqlx::test(migrations = "../migrations")]
async fn an_enrolment_follows_its_series_when_the_series_splits(pool: PgPool) {
    let club = club(&pool, "split", 5, 4).await;
    // Booking opens a year ahead here, so the term's sessions are all bookable now.
    set_rules(&pool, club.society, |r| r.opens_days = 365).await;
    let m = member(&pool, club.society, "split-m").await;
    enrol(&pool, &club, m, None).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let detail = calls::occurrence(&mut tx, club.society, Some(club.admin), club.sessions[1])
        .await
        .unwrap();
    let new_event = calls::change_series(
        &mut tx,
        club.society,
        club.admin,
        club.sessions[1],
        app::events::EditScope::Following,
        app::events::SeriesChange {
            details: app::events::EventDetails {
                title: "Squad (new coach)".into(),
                ..detail.event.clone()
            },
            start_time: detail.event_start_time,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_ne!(new_event, club.event);
    let followed: EventId =
        sqlx::query_scalar("select event_id from enrolments where user_id = $1")
            .bind(m)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        followed, new_event,
        "the enrolment goes on with the sessions to come"
    );
    // Its bookings stayed with their sessions.
    let booked: i64 = sqlx::query_scalar(
        "select count(*) from bookings where user_id = $1 and status = 'confirmed'",
    )
    .bind(m)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(booked, 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_term_books_each_session_when_its_booking_window_opens(pool: PgPool) {
    // Weekly from two days ahead; booking opens 14 days before each session (the default).
    let club = club(&pool, "window", 5, 4).await;
    let m = member(&pool, club.society, "termer").await;
    let enrolment = enrol(&pool, &club, m, None).await.unwrap();
    assert_eq!(
        (enrolment.confirmed, enrolment.waitlisted),
        (2, 0),
        "only the sessions whose booking has opened"
    );
    let booked = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from bookings where user_id = $1 and status = 'confirmed'",
        )
        .bind(m)
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    // Running the job now books nothing new, twice over.
    assert_eq!(
        bookings::book_opened_terms(&pool, Utc::now())
            .await
            .unwrap(),
        0
    );
    // The member will not come to the second one: it stays given up.
    let (second, _) = booking_of(&pool, m, club.sessions[1]).await;
    let mut tx = pool.begin().await.unwrap();
    bookings::excuse(&mut tx, m, second, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // A week on, the third session's window is open: the job books it, once.
    let week_on = Utc::now() + Duration::days(7) + Duration::hours(1);
    assert_eq!(
        bookings::book_opened_terms(&pool, week_on).await.unwrap(),
        1
    );
    assert_eq!(
        bookings::book_opened_terms(&pool, week_on).await.unwrap(),
        0
    );
    assert_eq!(booking_of(&pool, m, club.sessions[2]).await.1, "confirmed");
    assert_eq!(booking_of(&pool, m, club.sessions[1]).await.1, "excused");
    assert_eq!(booked(pool.clone()).await, 2);
    // A member under a booking ban gets no new session until it ends.
    sqlx::query(
        "insert into booking_bans (society_id, user_id, starts_at, ends_at, strikes)
         values ($1, $2, now(), now() + interval '30 days', 3)",
    )
    .bind(club.society)
    .bind(m)
    .execute(&pool)
    .await
    .unwrap();
    let two_weeks_on = Utc::now() + Duration::days(14) + Duration::hours(1);
    assert_eq!(
        bookings::book_opened_terms(&pool, two_weeks_on)
            .await
            .unwrap(),
        0
    );
    assert_eq!(booked(pool.clone()).await, 2);
}
