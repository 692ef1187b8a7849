//! REST API v1 bookings: book (a spot or a waitlist place), list, cancel, the same answer for
//! a retried `Idempotency-Key`, and rosters and attendance behind their checks, including
//! another society's ids.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::rest::{access_token, bearer};
use crate::{spawn_app, CLIENT_ID, CLIENT_SECRET};

#[sqlx::test(migrations = "../migrations")]
async fn the_booking_api_books_waitlists_cancels_and_keeps_rosters_behind_their_checks(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    let admin_token = access_token(&app, CLIENT_ID, CLIENT_SECRET, "admin", "admin-pass").await;
    let member_token = access_token(&app, CLIENT_ID, CLIENT_SECRET, "member", "member-pass").await;
    let trainer_token =
        access_token(&app, CLIENT_ID, CLIENT_SECRET, "trainer", "trainer-pass").await;
    let admin = bearer(&app, &admin_token);
    let member = bearer(&app, &member_token);
    let trainer = bearer(&app, &trainer_token);
    for slug in ["harbour", "river"] {
        let (status, _) = admin
            .post(
                "/api/v1/societies",
                json!({ "name": slug, "slug": slug, "time_zone": "Europe/Berlin" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // Mia is a member of harbour; Tom is river's trainer only.
    member.get("/api/v1/bookings").await;
    trainer.get("/api/v1/bookings").await;
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status)
         select s.id, u.id, 'member'::membership_role, 'approved'::membership_status from societies s, users u
          where s.slug = 'harbour' and u.email = 'member@example.org'
         union all
         select s.id, u.id, 'trainer'::membership_role, 'approved'::membership_status from societies s, users u
          where s.slug = 'river' and u.email = 'trainer@example.org'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let start = chrono::Utc::now().date_naive() + chrono::Duration::days(2);
    let (status, created) = admin
        .post(
            "/api/v1/societies/harbour/events",
            json!({ "title": "Squad", "capacity": 1, "duration_minutes": 60,
                    "starts_at": format!("{start}T18:00") }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let session = created["occurrence_ids"][0].as_str().unwrap().to_string();

    // The admin takes the only spot; Mia gets the waitlist, retried with the same key.
    let (status, first) = admin
        .post("/api/v1/bookings", json!({ "occurrence_id": session }))
        .await;
    assert_eq!(
        (
            status,
            first["status"].as_str(),
            &first["waitlist_position"]
        ),
        (StatusCode::CREATED, Some("confirmed"), &json!(null)),
        "{first}"
    );
    let keyed = |key: &str| {
        app.client
            .post(app.url("/api/v1/bookings"))
            .bearer_auth(&member_token)
            .header("idempotency-key", key)
            .json(&json!({ "occurrence_id": session }))
    };
    let one = keyed("retry-1").send().await.unwrap();
    assert_eq!(one.status(), StatusCode::CREATED);
    let one: serde_json::Value = one.json().await.unwrap();
    assert_eq!(
        (one["status"].as_str(), one["waitlist_position"].as_i64()),
        (Some("waitlisted"), Some(1))
    );
    let two = keyed("retry-1").send().await.unwrap();
    assert_eq!(two.status(), StatusCode::CREATED, "the same answer again");
    assert_eq!(two.json::<serde_json::Value>().await.unwrap(), one);
    let rows: i64 = sqlx::query_scalar("select count(*) from bookings")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 2, "no second row");
    let (status, problem) = member
        .post("/api/v1/bookings", json!({ "occurrence_id": session }))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "without a key, a second booking is refused: {problem}"
    );
    let other = app
        .client
        .post(app.url("/api/v1/bookings"))
        .bearer_auth(&member_token)
        .header("idempotency-key", "retry-1")
        .json(&json!({ "occurrence_id": uuid::Uuid::new_v4() }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the key is for another request"
    );
    let bad_key = keyed("has space").send().await.unwrap();
    assert_eq!(bad_key.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for (what, body) in [
        ("no id", json!({})),
        ("not an id", json!({ "occurrence_id": "tuesday" })),
        (
            "extra field",
            json!({ "occurrence_id": session, "seats": 2 }),
        ),
    ] {
        let (status, problem) = member.post("/api/v1/bookings", body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {problem}"
        );
    }
    let (status, _) = member
        .post(
            "/api/v1/bookings",
            json!({ "occurrence_id": uuid::Uuid::new_v4() }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Tom is not in harbour.
    let (status, _) = trainer
        .post("/api/v1/bookings", json!({ "occurrence_id": session }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The lists: each person's own, positions current.
    let (status, mine) = member.get("/api/v1/bookings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["waitlist_position"], 1);
    let (_, theirs) = trainer.get("/api/v1/bookings").await;
    assert_eq!(theirs, json!([]));

    // The roster: harbour's admin (and the session's trainers); not Mia, not river's trainer.
    let roster_path = format!("/api/v1/occurrences/{session}/roster");
    let (status, roster) = admin.get(&roster_path).await;
    assert_eq!(status, StatusCode::OK, "{roster}");
    assert_eq!(roster["confirmed"].as_array().unwrap().len(), 1);
    assert_eq!(roster["waitlist"][0]["waitlist_position"], 1);
    for (who, api) in [("member", &member), ("river's trainer", &trainer)] {
        let (status, _) = api.get(&roster_path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
    }
    let (status, _) = admin
        .get(&format!(
            "/api/v1/occurrences/{}/roster",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let admin_id = roster["confirmed"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let attendance = format!("/api/v1/occurrences/{session}/attendance/{admin_id}");
    let (status, problem) = admin.put(&attendance, json!({ "state": "present" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "two days early: {problem}");
    let (status, _) = admin.put(&attendance, json!({ "state": "asleep" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = member.put(&attendance, json!({ "state": "present" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Once the session is under way, the admin takes attendance.
    sqlx::query("update occurrences set starts_at = now() - interval '5 minutes', ends_at = now() + interval '55 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = admin.put(&attendance, json!({ "state": "present" })).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("present"))
    );
    let (_, roster) = admin.get(&roster_path).await;
    assert_eq!(roster["confirmed"][0]["attendance"], "present");

    // Cancelling: only one's own; then the next person has the spot.
    let admin_booking = first["id"].as_str().unwrap();
    let (status, _) = member
        .delete(&format!("/api/v1/bookings/{admin_booking}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not Mia's booking");
    let (status, problem) = admin
        .delete(&format!("/api/v1/bookings/{admin_booking}"))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the session has started: {problem}"
    );
    sqlx::query("update occurrences set starts_at = now() + interval '1 hour', ends_at = now() + interval '2 hours'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, cancelled) = admin
        .delete(&format!("/api/v1/bookings/{admin_booking}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(
        (cancelled["status"].as_str(), cancelled["late"].as_bool()),
        (Some("cancelled"), Some(true)),
        "an hour before the start is late"
    );
    let (_, mine) = member.get("/api/v1/bookings").await;
    assert_eq!(mine[0]["status"], "confirmed", "Mia moved up: {mine}");
    let (status, _) = member.delete("/api/v1/bookings/not-an-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The society's sessions list their counts (the session moved to today above).
    let today = chrono::Utc::now().date_naive();
    let (status, list) = member
        .get(&format!(
            "/api/v1/societies/harbour/occurrences?from={today}&to={start}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        (
            list[0]["confirmed"].as_i64(),
            list[0]["waitlisted"].as_i64()
        ),
        (Some(1), Some(0)),
        "{list}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn walk_ins_and_check_ins_are_applied_once_per_key_and_only_by_keepers(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin_token = access_token(&app, CLIENT_ID, CLIENT_SECRET, "admin", "admin-pass").await;
    let member_token = access_token(&app, CLIENT_ID, CLIENT_SECRET, "member", "member-pass").await;
    let admin = bearer(&app, &admin_token);
    let member = bearer(&app, &member_token);
    let (status, _) = admin
        .post(
            "/api/v1/societies",
            json!({ "name": "Harbour", "slug": "harbour", "time_zone": "UTC" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    member.get("/api/v1/bookings").await;
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status)
         select s.id, u.id, 'member'::membership_role, 'approved'::membership_status
           from societies s, users u where s.slug = 'harbour' and u.email = 'member@example.org'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let start = chrono::Utc::now().date_naive() + chrono::Duration::days(2);
    let (_, created) = admin
        .post(
            "/api/v1/societies/harbour/events",
            json!({ "title": "Squad", "capacity": 4, "duration_minutes": 60,
                    "starts_at": format!("{start}T18:00") }),
        )
        .await;
    let session = created["occurrence_ids"][0].as_str().unwrap().to_string();
    let (status, booking) = member
        .post("/api/v1/bookings", json!({ "occurrence_id": session }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    sqlx::query("update occurrences set starts_at = now() - interval '5 minutes', ends_at = now() + interval '55 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    let booking = uuid::Uuid::parse_str(booking["id"].as_str().unwrap()).unwrap();
    let key = app::secret::SigningKey::load(&pool, "checkin")
        .await
        .unwrap();
    let code = app::bookings::db::checkin_code(&key, app::ids::BookingId(booking));
    let check_ins = format!("/api/v1/occurrences/{session}/check-ins");
    let send = |path: &str, token: &str, key: &str, body: serde_json::Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };

    // A member cannot check anyone in, themselves included; a made-up code is refused.
    let refused = send(&check_ins, &member_token, "m-1", json!({ "code": code }))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (status, problem) = admin
        .post(
            &check_ins,
            json!({ "code": format!("roster-checkin:{}", "A".repeat(43)) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // The keeper scans it: present, once, whatever how often it is sent.
    for _ in 0..2 {
        let done = send(
            &check_ins,
            &admin_token,
            "scan-1",
            json!({ "code": format!("roster-checkin:{code}") }),
        )
        .await
        .unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        let done: serde_json::Value = done.json().await.unwrap();
        assert_eq!(
            (done["name"].as_str(), done["already"].as_bool()),
            (Some("Mia Member"), Some(false))
        );
    }
    let (status, again) = admin.post(&check_ins, json!({ "code": code })).await;
    assert_eq!(
        (status, again["already"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{again}"
    );
    let marks: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'attendance.marked'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(marks, 1);

    // A walk-in, sent twice under one key: added once.
    let walk_ins = format!("/api/v1/occurrences/{session}/walk-ins");
    for _ in 0..2 {
        let added = send(
            &walk_ins,
            &admin_token,
            "walk-1",
            json!({ "who": "admin@example.org" }),
        )
        .await
        .unwrap();
        assert_eq!(added.status(), StatusCode::CREATED);
    }
    let walk_in_rows: i64 = sqlx::query_scalar("select count(*) from bookings where walk_in")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(walk_in_rows, 1);
    // Without the key, the same walk-in again: they already have a spot.
    let (status, problem) = admin
        .post(&walk_ins, json!({ "who": "admin@example.org" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already has a spot"),
        "{problem}"
    );
    let (status, problem) = admin.post(&walk_ins, json!({ "who": "nobody" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    // Attendance with what the sender saw: a different mark made meanwhile wins.
    let member_id: uuid::Uuid =
        sqlx::query_scalar("select id from users where email = 'member@example.org'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let attendance = format!("/api/v1/occurrences/{session}/attendance/{member_id}");
    let (status, problem) = admin
        .put(&attendance, json!({ "state": "late", "seen": "unmarked" }))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the admin made the present mark: {problem}"
    );
    let (status, problem) = admin
        .put(&attendance, json!({ "state": "late", "seen": "asleep" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}
