//! The waitlist after random sequences of book / cancel / absence / capacity changes, checked
//! against a model of the rules after every step: spots are given first come first served,
//! positions are 1..n with no gaps, and nobody waits while a spot is free.

use std::collections::VecDeque;

use app::bookings::db as bookings;
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;

use super::races::check_invariants;
use super::*;

/// The rules, as plainly as they can be said.
#[derive(Debug, Default)]
struct Model {
    capacity: i32,
    confirmed: Vec<UserId>,
    queue: VecDeque<UserId>,
    /// People whose current booking belongs to their term enrolment.
    term: Vec<UserId>,
}

impl Model {
    fn refill(&mut self) {
        while (self.confirmed.len() as i32) < self.capacity {
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            self.confirmed.push(next);
        }
    }

    fn active(&self, u: UserId) -> bool {
        self.confirmed.contains(&u) || self.queue.contains(&u)
    }

    fn book(&mut self, u: UserId) {
        if self.active(u) {
            return;
        }
        if (self.confirmed.len() as i32) < self.capacity {
            self.confirmed.push(u);
        } else {
            self.queue.push_back(u);
        }
    }

    fn give_up(&mut self, u: UserId) {
        self.term.retain(|t| *t != u);
        if let Some(i) = self.confirmed.iter().position(|c| *c == u) {
            self.confirmed.remove(i);
            self.refill();
        } else {
            self.queue.retain(|q| *q != u);
        }
    }

    fn set_capacity(&mut self, capacity: i32) {
        let raised = capacity > self.capacity;
        self.capacity = capacity;
        if raised {
            self.refill();
        }
    }
}

async fn active_booking(pool: &PgPool, session: OccurrenceId, u: UserId) -> Option<BookingId> {
    sqlx::query_scalar(
        "select id from bookings where occurrence_id = $1 and user_id = $2 and status in ('confirmed', 'waitlisted')",
    )
    .bind(session)
    .bind(u)
    .fetch_optional(pool)
    .await
    .unwrap()
}

async fn set_capacity(pool: &PgPool, club: &Club, session: OccurrenceId, capacity: i32) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("update occurrences set capacity = $2 where id = $1")
        .bind(session)
        .bind(capacity)
        .execute(&mut *tx)
        .await
        .unwrap();
    let admin = app::access::lock_as_admin(&mut tx, club.society, club.admin)
        .await
        .unwrap();
    bookings::after_capacity_change(&mut tx, &admin, &[session], Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn random_sequences_keep_the_waitlist_first_come_first_served(pool: PgPool) {
    let club = club(&pool, "model", 3, 2).await;
    let session = club.sessions[0];
    let people = members(&pool, club.society, "q", 12).await;
    let mut model = Model {
        capacity: 3,
        ..Model::default()
    };
    // The first four enrol in the term (so they can mark themselves absent).
    for p in &people[..4] {
        let mut tx = pool.begin().await.unwrap();
        let booker = bookings::lock_booker(&mut tx, club.society, *p, Utc::now())
            .await
            .unwrap();
        bookings::enrol(&mut tx, &booker, club.event, None, Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        model.book(*p);
        model.term.push(*p);
    }
    for seed in 0..12u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        for step in 0..40 {
            let who = people[rng.random_range(0..people.len())];
            let what = rng.random_range(0..10);
            let now = Utc::now();
            match what {
                0..=3 => {
                    let result = book_at(&pool, club.society, who, session, now).await;
                    assert_eq!(
                        result.is_ok(),
                        !model.active(who),
                        "seed {seed} step {step}"
                    );
                    model.book(who);
                }
                4..=6 => {
                    if let Some(id) = active_booking(&pool, session, who).await {
                        cancel_at(&pool, who, id, now).await.unwrap();
                    }
                    model.give_up(who);
                }
                7 => {
                    if let Some(id) = active_booking(&pool, session, who).await {
                        let mut tx = pool.begin().await.unwrap();
                        let excused = bookings::excuse(&mut tx, who, id, now).await;
                        assert_eq!(
                            excused.is_ok(),
                            model.term.contains(&who),
                            "seed {seed} step {step}: only term bookings can be excused"
                        );
                        if excused.is_ok() {
                            tx.commit().await.unwrap();
                            model.give_up(who);
                        }
                    }
                }
                _ => {
                    let capacity = rng.random_range(1..=6);
                    set_capacity(&pool, &club, session, capacity).await;
                    model.set_capacity(capacity);
                }
            }
            let (mut confirmed, queue) = state(&pool, session).await;
            let mut expected = model.confirmed.clone();
            confirmed.sort_by_key(|u| u.0);
            expected.sort_by_key(|u| u.0);
            assert_eq!(
                confirmed, expected,
                "seed {seed} step {step}: who has a spot"
            );
            assert_eq!(
                queue,
                model.queue.iter().copied().collect::<Vec<_>>(),
                "seed {seed} step {step}: the waitlist's order"
            );
            check_invariants(&pool, session).await;
        }
    }
}
