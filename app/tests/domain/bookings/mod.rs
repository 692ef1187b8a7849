//! Bookings against a real PostgreSQL: spots and waitlists, cutoffs, limits, strikes and bans,
//! term enrolment, the roster, admin overrides, and what the database refuses on its own.

use app::access::{MembershipRole, MembershipStatus};
use app::bookings::db as bookings;
use app::bookings::{Booking, BookingRules, Cancellation};
use app::error::AppResult;
use app::events::{EventDetails, NewEvent, SeriesEnd, Weekly};
use app::ids::{BookingId, EventId, OccurrenceId, SocietyId, UserId};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;

use crate::{calls, fx};

mod enrolment;
mod property;
mod races;
mod reminders;
mod report;
mod roster;
mod rules;

/// A society with its admin and a trainer, and one event (a single session, or a weekly series
/// of `weeks` sessions) starting at 18:00 Berlin time `days` days from today.
pub struct Club {
    pub society: SocietyId,
    pub admin: UserId,
    pub trainer: UserId,
    pub event: EventId,
    pub sessions: Vec<OccurrenceId>,
}

pub async fn club_on(
    pool: &PgPool,
    slug: &str,
    capacity: i32,
    start: NaiveDate,
    weeks: u32,
) -> Club {
    let (society, admin) = fx::society_with_admin(pool, slug).await;
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
    drop(conn);
    let weekly = (weeks > 1).then(|| Weekly {
        weekdays: vec![start.weekday()],
        interval: 1,
        end: SeriesEnd::Count(weeks),
    });
    let new = NewEvent {
        details: EventDetails {
            title: "Squad".into(),
            description: String::new(),
            location: "Boathouse".into(),
            capacity,
            duration_minutes: 90,
            category: None,
            trainers: vec![trainer.id],
        },
        start_date: start,
        start_time: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        weekly,
    };
    let mut tx = pool.begin().await.unwrap();
    let created = calls::create_event(&mut tx, society.id, admin.id, new)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Club {
        society: society.id,
        admin: admin.id,
        trainer: trainer.id,
        event: created.id,
        sessions: created.occurrence_ids,
    }
}

/// A club whose event starts two days from today.
pub async fn club(pool: &PgPool, slug: &str, capacity: i32, weeks: u32) -> Club {
    let start = Utc::now().date_naive() + Duration::days(2);
    club_on(pool, slug, capacity, start, weeks).await
}

/// A second event of the club: one untaught session of 10 spots two days ahead at `hour`.
pub async fn another_session(pool: &PgPool, club: &Club, title: &str, hour: u32) -> OccurrenceId {
    let mut tx = pool.begin().await.unwrap();
    let created = calls::create_event(
        &mut tx,
        club.society,
        club.admin,
        NewEvent {
            details: EventDetails {
                title: title.into(),
                description: String::new(),
                location: String::new(),
                capacity: 10,
                duration_minutes: 60,
                category: None,
                trainers: vec![],
            },
            start_date: Utc::now().date_naive() + Duration::days(2),
            start_time: NaiveTime::from_hms_opt(hour, 0, 0).unwrap(),
            weekly: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    created.occurrence_ids[0]
}

/// An approved member of `society`.
pub async fn member(pool: &PgPool, society: SocietyId, name: &str) -> UserId {
    let user = fx::user(pool, name, false).await;
    let mut conn = pool.acquire().await.unwrap();
    fx::put_membership(
        &mut conn,
        society,
        user.id,
        MembershipRole::Member,
        MembershipStatus::Approved,
    )
    .await
    .unwrap();
    user.id
}

pub async fn members(pool: &PgPool, society: SocietyId, prefix: &str, n: usize) -> Vec<UserId> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        all.push(member(pool, society, &format!("{prefix}{i:03}")).await);
    }
    all
}

/// Books as the member, in a transaction of its own (committed when it succeeds).
pub async fn book_at(
    pool: &PgPool,
    society: SocietyId,
    user: UserId,
    occurrence: OccurrenceId,
    now: DateTime<Utc>,
) -> AppResult<Booking> {
    let mut tx = pool.begin().await.unwrap();
    let booked = async {
        let booker = bookings::lock_booker(&mut tx, society, user, now).await?;
        bookings::book(&mut tx, &booker, occurrence, now).await
    }
    .await;
    if booked.is_ok() {
        tx.commit().await.unwrap();
    }
    booked
}

pub async fn book(
    pool: &PgPool,
    society: SocietyId,
    user: UserId,
    occurrence: OccurrenceId,
) -> AppResult<Booking> {
    book_at(pool, society, user, occurrence, Utc::now()).await
}

pub async fn cancel_at(
    pool: &PgPool,
    user: UserId,
    booking: BookingId,
    now: DateTime<Utc>,
) -> AppResult<Cancellation> {
    let mut tx = pool.begin().await.unwrap();
    let cancelled = bookings::cancel(&mut tx, user, booking, now).await;
    if cancelled.is_ok() {
        tx.commit().await.unwrap();
    }
    cancelled
}

pub async fn cancel(pool: &PgPool, user: UserId, booking: BookingId) -> AppResult<Cancellation> {
    cancel_at(pool, user, booking, Utc::now()).await
}

/// Who has a spot (walk-ins included, in id order) and the waitlist in order, as stored.
pub async fn state(pool: &PgPool, occurrence: OccurrenceId) -> (Vec<UserId>, Vec<UserId>) {
    let confirmed: Vec<UserId> = sqlx::query_scalar(
        "select user_id from bookings where occurrence_id = $1 and status = 'confirmed' order by user_id",
    )
    .bind(occurrence)
    .fetch_all(pool)
    .await
    .unwrap();
    let waitlist: Vec<UserId> = sqlx::query_scalar(
        "select user_id from bookings where occurrence_id = $1 and status = 'waitlisted' order by queue_number",
    )
    .bind(occurrence)
    .fetch_all(pool)
    .await
    .unwrap();
    (confirmed, waitlist)
}

/// The session's stored counters (confirmed, waitlisted) and capacity.
pub async fn counters(pool: &PgPool, occurrence: OccurrenceId) -> (i32, i32, i32) {
    sqlx::query_as(
        "select confirmed_count, waitlisted_count, capacity from occurrences where id = $1",
    )
    .bind(occurrence)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn starts_at(pool: &PgPool, occurrence: OccurrenceId) -> DateTime<Utc> {
    sqlx::query_scalar("select starts_at from occurrences where id = $1")
        .bind(occurrence)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Sets the society's rules directly (test set-up).
pub async fn set_rules(pool: &PgPool, society: SocietyId, change: impl FnOnce(&mut BookingRules)) {
    let mut conn = pool.acquire().await.unwrap();
    let mut rules = bookings::rules(&mut conn, society).await.unwrap();
    change(&mut rules);
    sqlx::query(
        "update booking_rules set opens_days = $2, closes_minutes = $3, free_cancel_hours = $4,
                strike_limit = $5, strike_window_days = $6, ban_days = $7, max_active = $8,
                max_per_week = $9, first_reminder_hours = $10, second_reminder_hours = $11
          where society_id = $1",
    )
    .bind(society)
    .bind(rules.opens_days)
    .bind(rules.closes_minutes)
    .bind(rules.free_cancel_hours)
    .bind(rules.strike_limit)
    .bind(rules.strike_window_days)
    .bind(rules.ban_days)
    .bind(rules.max_active)
    .bind(rules.max_per_week)
    .bind(rules.first_reminder_hours)
    .bind(rules.second_reminder_hours)
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// The (action, subject) pairs of the society's audit log, oldest first.
pub async fn audit_actions(pool: &PgPool, society: SocietyId) -> Vec<String> {
    sqlx::query_scalar("select action::text from audit_log where society_id = $1 order by id")
        .bind(society)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The outbox kinds queued for `user`, oldest first.
pub async fn outbox_for(pool: &PgPool, user: UserId) -> Vec<String> {
    sqlx::query_scalar(
        "select kind from notification_outbox where recipient_id = $1 order by created_at, id",
    )
    .bind(user)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Runs `call` as an admin of the club's society (its proof taken first), committed when it
/// succeeds.
pub async fn as_admin<T>(
    pool: &PgPool,
    club: &Club,
    call: impl for<'c> FnOnce(
        &'c mut sqlx::PgConnection,
        &'c app::access::SocietyAdmin,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = AppResult<T>> + Send + 'c>,
    >,
) -> AppResult<T> {
    let mut tx = pool.begin().await.unwrap();
    let result = async {
        let admin = app::access::lock_as_admin(&mut tx, club.society, club.admin).await?;
        call(&mut tx, &admin).await
    }
    .await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}
