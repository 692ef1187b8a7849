//! The outbox becomes deliveries by the recipient's preferences, once per row and channel.

use app::notifications::{db, dispatch, Channel, NotificationKind, Topic};
use sqlx::PgPool;

use crate::fx;

async fn deliveries(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "select o.kind, d.channel::text from notification_deliveries d
           join notification_outbox o on o.id = d.outbox_id order by d.id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn jobs(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("select kind from jobs order by id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn dispatch_follows_preferences_once_per_row(pool: PgPool) {
    let (society, _admin) = fx::society_with_admin(&pool, "prefs").await;
    let max = fx::user(&pool, "max", false).await;
    // Max turns reminders off by email (everything else as it comes).
    let mut on: Vec<(Topic, Channel)> = Vec::new();
    for topic in Topic::ALL {
        for channel in Channel::ALL {
            if topic.default_on(channel)
                && !(topic == Topic::Reminders && channel == Channel::Email)
            {
                on.push((topic, channel));
            }
        }
    }
    let mut tx = pool.begin().await.unwrap();
    db::save_preferences(&mut tx, max.id, &on).await.unwrap();
    for kind in [
        NotificationKind::BookingReminder,
        NotificationKind::BookingPromoted,
        NotificationKind::BookingConfirmed,
    ] {
        db::enqueue(
            &mut tx,
            society.id,
            max.id,
            kind,
            serde_json::json!({ "title": "Ergo" }),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let stored: i64 = sqlx::query_scalar("select count(*) from notification_preferences")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        stored, 1,
        "only the choice that differs from the defaults is stored"
    );

    assert_eq!(
        dispatch::dispatch_batch(&pool, chrono::Duration::zero())
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        dispatch::dispatch_batch(&pool, chrono::Duration::zero())
            .await
            .unwrap(),
        0
    );
    // Only the promotion goes by email: reminders are off, confirmations are in-app only.
    assert_eq!(
        deliveries(&pool).await,
        [("booking.promoted".to_string(), "email".to_string())]
    );
    assert_eq!(jobs(&pool).await, ["notification.deliver"]);
    // All three are in the app.
    let inbox = db::inbox(&pool, max.id, None, 10).await.unwrap();
    assert_eq!(inbox.items.len(), 3);
    assert_eq!(inbox.unread, 3);
    assert_eq!(
        db::mark_read(&pool, max.id, Some(inbox.items[0].id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(db::unread(&pool, max.id).await.unwrap(), 2);
    // Someone else cannot mark Max's notifications read.
    let jo = fx::user(&pool, "jo", false).await;
    assert_eq!(
        db::mark_read(&pool, jo.id, Some(inbox.items[1].id))
            .await
            .unwrap(),
        0
    );
    assert_eq!(db::mark_read(&pool, max.id, None).await.unwrap(), 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn join_requests_to_admins_wait_for_one_digest(pool: PgPool) {
    let (society, admin) = fx::society_with_admin(&pool, "digest").await;
    let mut tx = pool.begin().await.unwrap();
    for who in ["a", "b", "c"] {
        db::enqueue(
            &mut tx,
            society.id,
            admin.id,
            NotificationKind::MembershipRequested,
            serde_json::json!({ "name": who }),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    dispatch::dispatch_batch(&pool, chrono::Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(deliveries(&pool).await.len(), 3);
    assert_eq!(
        jobs(&pool).await,
        ["notification.digest"],
        "one mail for the three"
    );
    let waits: bool = sqlx::query_scalar("select run_at > now() + interval '9 minutes' from jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(waits);
    // A fourth request while the digest waits joins it.
    let mut conn = pool.acquire().await.unwrap();
    db::enqueue(
        &mut conn,
        society.id,
        admin.id,
        NotificationKind::MembershipRequested,
        serde_json::json!({}),
    )
    .await
    .unwrap();
    dispatch::dispatch_batch(&pool, chrono::Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(jobs(&pool).await.len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dedupe_key_queues_one_outbox_row(pool: PgPool) {
    let (society, _admin) = fx::society_with_admin(&pool, "dedupe").await;
    let max = fx::user(&pool, "max", false).await;
    let mut conn = pool.acquire().await.unwrap();
    for expected in [true, false] {
        let queued = db::enqueue_once(
            &mut conn,
            society.id,
            max.id,
            NotificationKind::BookingReminder,
            serde_json::json!({}),
            "reminder:x:24:1",
        )
        .await
        .unwrap();
        assert_eq!(queued, expected);
    }
}
