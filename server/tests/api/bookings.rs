//! Bookings over HTTP: the authorization matrix of every booking, roster and rules action
//! (server functions and pages), ids of another society, and bad input answered by field.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::weekly_series;
use crate::{joined, new_society, person, put_membership, spawn_app, TestApp};

/// Everything a booking call could change, as text.
async fn snapshot(pool: &PgPool) -> String {
    let rows: Vec<String> = sqlx::query_scalar(
        "select concat_ws('|', 'b', id, user_id, status, queue_number, attendance, note, reason) from bookings
         union all select concat_ws('|', 'n', id, ended_at) from enrolments
         union all select concat_ws('|', 'x', id, lifted_at) from booking_bans
         union all select concat_ws('|', 'r', society_id, opens_days, max_active) from booking_rules
         union all select concat_ws('|', 'o', id, confirmed_count, waitlisted_count) from occurrences
         union all select concat_ws('|', 'a', count(*)) from audit_log
         order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.join("\n")
}

async fn status_of(browser: &TestApp, function: &str, form: &[(&str, &str)]) -> StatusCode {
    browser.call(function, form).await.status()
}

#[sqlx::test(migrations = "../migrations")]
async fn every_booking_and_roster_action_holds_the_authorization_matrix(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    new_society(&app, "river").await;
    let (admin_a, _, admin_a_id) = joined(&app, "harbour", "admin-a", "admin", "approved").await;
    let (admin_b, _, _) = joined(&app, "river", "admin-b", "admin", "approved").await;
    let (trainer, _, trainer_id) = joined(&app, "harbour", "trainer", "trainer", "approved").await;
    let (other_trainer, _, _) = joined(&app, "harbour", "coach", "trainer", "approved").await;
    let (member, member_email, member_id) =
        joined(&app, "harbour", "member", "member", "approved").await;
    let (pending, _, _) = joined(&app, "harbour", "pending", "member", "pending").await;
    let (outsider, _, _) = person(&app, "outsider").await;
    let visitor = app.other_browser();
    put_membership(&pool, "river", &admin_a_id, "member", "approved").await;
    let (event_id, sessions) = weekly_series(&admin_a, &trainer_id).await;
    let first = sessions[0].as_str();

    // Booking: approved members only; the others are told why (409) or refused.
    for (who, browser, expected) in [
        ("pending", &pending, StatusCode::CONFLICT),
        ("river's admin", &admin_b, StatusCode::FORBIDDEN),
        ("outsider", &outsider, StatusCode::FORBIDDEN),
        ("visitor", &visitor, StatusCode::UNAUTHORIZED),
    ] {
        let before = snapshot(&pool).await;
        let response = browser
            .call("book_session", &[("slug", "harbour"), ("id", first)])
            .await;
        assert_eq!(response.status(), expected, "{who} booking");
        if expected == StatusCode::CONFLICT {
            let body = response.text().await.unwrap();
            assert!(body.contains("waiting for an admin"), "{who}: {body}");
        }
        assert_eq!(snapshot(&pool).await, before, "{who} changed nothing");
    }
    // A harbour session through river's address is not found, even for a member of both.
    assert_eq!(
        status_of(
            &admin_a,
            "book_session",
            &[("slug", "river"), ("id", first)]
        )
        .await,
        StatusCode::NOT_FOUND
    );
    let booked = member
        .call("book_session", &[("slug", "harbour"), ("id", first)])
        .await;
    assert_eq!(booked.status(), StatusCode::OK);
    let booking: serde_json::Value = booked.json().await.unwrap();
    assert_eq!(booking["status"], "confirmed");
    let booking_id = booking["id"].as_str().unwrap().to_string();
    let (status, again) = {
        let r = member
            .call("book_session", &[("slug", "harbour"), ("id", first)])
            .await;
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a retried form books nothing twice: {again}"
    );

    // Someone else's booking is not found for anyone but its owner.
    for (who, browser, expected) in [
        ("admin", &admin_a, StatusCode::NOT_FOUND),
        ("trainer", &trainer, StatusCode::NOT_FOUND),
        ("outsider", &outsider, StatusCode::NOT_FOUND),
        ("visitor", &visitor, StatusCode::UNAUTHORIZED),
    ] {
        for function in ["cancel_booking", "excuse_booking"] {
            assert_eq!(
                status_of(browser, function, &[("id", &booking_id)]).await,
                expected,
                "{who} calling {function}"
            );
        }
    }
    assert_eq!(
        status_of(&member, "cancel_booking", &[("id", "not-an-id")]).await,
        StatusCode::NOT_FOUND
    );

    // The roster: the session's trainers and the society's admins.
    let before = snapshot(&pool).await;
    for (who, browser, expected) in [
        ("admin", &admin_a, StatusCode::OK),
        ("trainer", &trainer, StatusCode::OK),
        ("another trainer", &other_trainer, StatusCode::FORBIDDEN),
        ("member", &member, StatusCode::FORBIDDEN),
        ("pending", &pending, StatusCode::FORBIDDEN),
        ("river's admin", &admin_b, StatusCode::FORBIDDEN),
        ("outsider", &outsider, StatusCode::FORBIDDEN),
        ("visitor", &visitor, StatusCode::UNAUTHORIZED),
    ] {
        let response = browser
            .call("roster", &[("slug", "harbour"), ("id", first)])
            .await;
        assert_eq!(response.status(), expected, "{who} reading the roster");
        if expected == StatusCode::OK {
            let body = response.text().await.unwrap();
            assert!(
                body.contains(&member_id),
                "{who} sees who is coming: {body}"
            );
        }
        // Attendance and walk-ins: the keepers get past the check (and hear it is too early:
        // the session is a week away); everyone else is refused before that.
        let keeps = expected == StatusCode::OK;
        let attendance = status_of(
            browser,
            "mark_attendance",
            &[
                ("slug", "harbour"),
                ("id", first),
                ("user", &member_id),
                ("state", "absent"),
            ],
        )
        .await;
        assert_eq!(
            attendance,
            if keeps {
                StatusCode::CONFLICT
            } else {
                expected
            },
            "{who} taking attendance"
        );
        let walk_in = status_of(
            browser,
            "add_walk_in",
            &[("slug", "harbour"), ("id", first), ("who", &member_email)],
        )
        .await;
        assert_eq!(
            walk_in,
            if keeps {
                StatusCode::CONFLICT
            } else {
                expected
            },
            "{who} adding a walk-in"
        );
        let note = status_of(
            browser,
            "set_booking_note",
            &[
                ("slug", "harbour"),
                ("id", first),
                ("booking", &booking_id),
                ("note", "Knee"),
            ],
        )
        .await;
        assert_eq!(note, expected, "{who} writing a note");
    }
    sqlx::query("update bookings set note = ''")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        snapshot(&pool).await,
        before,
        "refused calls changed nothing"
    );
    assert_eq!(
        status_of(&admin_b, "roster", &[("slug", "river"), ("id", first)]).await,
        StatusCode::NOT_FOUND,
        "another society's session through its own address"
    );

    // Admin overrides and the rules: harbour's admins only.
    let rules = [
        ("opens_days", "10"),
        ("closes_minutes", "0"),
        ("free_cancel_hours", "6"),
        ("strike_limit", "3"),
        ("strike_window_days", "30"),
        ("ban_days", "7"),
        ("max_active", "10"),
        ("max_per_week", "5"),
        ("first_reminder_hours", "24"),
        ("second_reminder_hours", "2"),
    ];
    let before = snapshot(&pool).await;
    for (who, browser, expected) in [
        ("trainer", &trainer, StatusCode::FORBIDDEN),
        ("member", &member, StatusCode::FORBIDDEN),
        ("river's admin", &admin_b, StatusCode::FORBIDDEN),
        ("visitor", &visitor, StatusCode::UNAUTHORIZED),
    ] {
        let mut form = vec![("slug", "harbour")];
        form.extend(rules);
        for (function, args) in [
            (
                "add_booking",
                vec![
                    ("slug", "harbour"),
                    ("id", first),
                    ("who", member_email.as_str()),
                    ("reason", "x"),
                ],
            ),
            (
                "remove_booking",
                vec![
                    ("slug", "harbour"),
                    ("booking", &booking_id),
                    ("reason", "x"),
                ],
            ),
            ("booking_settings", vec![("slug", "harbour")]),
            ("update_booking_rules", form.clone()),
            (
                "lift_booking_ban",
                vec![("slug", "harbour"), ("user", &member_id)],
            ),
        ] {
            assert_eq!(
                status_of(browser, function, &args).await,
                expected,
                "{who} calling {function}"
            );
        }
    }
    assert_eq!(
        snapshot(&pool).await,
        before,
        "refused calls changed nothing"
    );
    let mut bad = vec![("slug", "harbour")];
    bad.extend(rules);
    bad[1] = ("opens_days", "0");
    let response = admin_a.call("update_booking_rules", &bad).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("opens_days"));
    let mut form = vec![("slug", "harbour")];
    form.extend(rules);
    assert_eq!(
        status_of(&admin_a, "update_booking_rules", &form).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(
            &admin_a,
            "remove_booking",
            &[
                ("slug", "harbour"),
                ("booking", &booking_id),
                ("reason", "Injured")
            ]
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(
            &admin_a,
            "add_booking",
            &[
                ("slug", "harbour"),
                ("id", first),
                ("who", &member_email),
                ("reason", "Back")
            ]
        )
        .await,
        StatusCode::OK
    );

    // Term enrolment and "My bookings".
    assert_eq!(
        status_of(
            &pending,
            "enrol_in_series",
            &[("slug", "harbour"), ("event", &event_id)]
        )
        .await,
        StatusCode::CONFLICT
    );
    let response = member
        .call(
            "enrol_in_series",
            &[("slug", "harbour"), ("event", &event_id), ("until", "soon")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        status_of(
            &member,
            "enrol_in_series",
            &[("slug", "harbour"), ("event", &event_id)]
        )
        .await,
        StatusCode::OK
    );
    let mine = member.call("my_bookings", &[]).await;
    assert_eq!(mine.status(), StatusCode::OK);
    let mine: serde_json::Value = mine.json().await.unwrap();
    // The term's sessions whose booking has opened (14 days ahead): the first week's.
    let upcoming = mine["upcoming"].as_array().unwrap().len();
    assert!((1..=2).contains(&upcoming), "{mine}");
    assert_eq!(
        status_of(&visitor, "my_bookings", &[]).await,
        StatusCode::UNAUTHORIZED
    );

    // The pages: the session page shows the booking panel; the roster only to its keepers.
    let page = member.get(&format!("/s/harbour/sessions/{first}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-testid=\"booking-panel\""), "{html}");
    assert!(html.contains("You have a spot."), "{html}");
    assert!(!html.contains("data-testid=\"roster\""));
    let html = trainer
        .get(&format!("/s/harbour/sessions/{first}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-testid=\"roster\""), "{html}");
    let html = member.get("/my-bookings").await.text().await.unwrap();
    assert!(html.contains("data-testid=\"my-booking-row\""), "{html}");
    assert_eq!(
        visitor.get("/my-bookings").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let settings = admin_a
        .get("/s/harbour/settings")
        .await
        .text()
        .await
        .unwrap();
    assert!(settings.contains("Booking rules"), "{settings}");
}

/// Reads the stream until an event's data contains `wanted` (at most ten seconds).
async fn wait_for_event(stream: &mut reqwest::Response, seen: &mut String, wanted: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains(wanted) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no event with {wanted} in: {seen}"))
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn live_counts_reach_an_open_page_from_a_booking_on_another_replica(pool: PgPool) {
    let one = spawn_app(pool.clone()).await;
    let two = spawn_app(pool.clone()).await;
    one.sign_in_oidc("admin", "admin-pass").await;
    new_society(&one, "harbour").await;
    let (admin, _, _) = joined(&one, "harbour", "admin-a", "admin", "approved").await;
    let (trainer, _, trainer_id) = joined(&one, "harbour", "trainer", "trainer", "approved").await;
    let (member, _, _) = joined(&one, "harbour", "member", "member", "approved").await;
    let (outsider, _, _) = person(&one, "outsider").await;
    let (_, sessions) = weekly_series(&admin, &trainer_id).await;
    let first = &sessions[0];
    let path = format!("/s/harbour/live?ids={first},{}", sessions[1]);

    // Only who may read the calendar follows it.
    assert_eq!(outsider.get(&path).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        one.other_browser().get(&path).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        trainer.get("/s/nowhere/live?ids=x").await.status(),
        StatusCode::NOT_FOUND
    );

    let mut stream = trainer.get(&path).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    // The current counts first.
    wait_for_event(
        &mut stream,
        &mut seen,
        &format!("\"occurrence_id\":\"{first}\""),
    )
    .await;
    assert!(seen.contains("\"confirmed\":0"), "{seen}");
    // The member books through the other server process.
    let on_two = TestApp {
        base: two.base.clone(),
        pool: pool.clone(),
        jar: member.jar.clone(),
        client: member.client.clone(),
        background: None,
        lifecycle: None,
    };
    let booked = on_two
        .call("book_session", &[("slug", "harbour"), ("id", first)])
        .await;
    assert_eq!(booked.status(), StatusCode::OK);
    wait_for_event(&mut stream, &mut seen, "\"confirmed\":1").await;
    assert!(seen.contains("event: spots"), "{seen}");
}

#[sqlx::test(migrations = "../migrations")]
async fn csv_exports_and_reports_go_to_their_keepers_and_defuse_formulas(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (admin, _, _) = joined(&app, "harbour", "admin-a", "admin", "approved").await;
    let (trainer, _, trainer_id) = joined(&app, "harbour", "trainer", "trainer", "approved").await;
    let (member, _, member_id) = joined(&app, "harbour", "member", "member", "approved").await;
    let (outsider, _, _) = person(&app, "outsider").await;
    // A name a spreadsheet would run as a formula.
    sqlx::query("update users set name = '=HYPERLINK(\"http://evil\")' where id = $1::uuid")
        .bind(&member_id)
        .execute(&pool)
        .await
        .unwrap();
    let (_, sessions) = weekly_series(&admin, &trainer_id).await;
    let first = &sessions[0];
    assert_eq!(
        status_of(
            &member,
            "book_session",
            &[("slug", "harbour"), ("id", first)]
        )
        .await,
        StatusCode::OK
    );
    let roster = format!("/s/harbour/sessions/{first}/roster.csv");
    let range = "from=2000-01-01&to=2000-12-31";
    let week = format!(
        "from={}&to={}",
        chrono::Utc::now().date_naive(),
        chrono::Utc::now().date_naive() + chrono::Duration::days(30)
    );
    for (who, browser, expected) in [
        ("trainer", &trainer, StatusCode::OK),
        ("admin", &admin, StatusCode::OK),
        ("member", &member, StatusCode::FORBIDDEN),
        ("outsider", &outsider, StatusCode::FORBIDDEN),
        ("visitor", &app.other_browser(), StatusCode::UNAUTHORIZED),
    ] {
        let response = browser.get(&roster).await;
        assert_eq!(response.status(), expected, "{who}: roster.csv");
        if expected == StatusCode::OK {
            assert_eq!(
                response.headers()["content-type"],
                "text/csv; charset=utf-8"
            );
            let text = response.text().await.unwrap();
            assert!(
                text.starts_with("starts,session,name,email,booking"),
                "{text}"
            );
            assert!(
                text.contains("'=HYPERLINK"),
                "the formula is defused: {text}"
            );
        }
        let attendance = browser
            .get(&format!("/s/harbour/attendance.csv?{week}"))
            .await;
        let expected_range = if who == "member" {
            StatusCode::FORBIDDEN
        } else {
            expected
        };
        assert_eq!(attendance.status(), expected_range, "{who}: attendance.csv");
        let report = browser
            .get(&format!("/s/harbour/report.csv?by=members&{week}"))
            .await;
        let admin_only = if who == "admin" || expected != StatusCode::OK {
            expected
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(report.status(), admin_only, "{who}: report.csv");
    }
    let report = admin
        .get(&format!("/s/harbour/report.csv?by=events&{week}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(report.contains("Squad training,4,48,1,2%"), "{report}");
    for bad in [
        "from=yesterday",
        "by=weather",
        "from=2026-12-01&to=2025-01-01",
    ] {
        let status = admin
            .get(&format!("/s/harbour/report.csv?{bad}"))
            .await
            .status();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(
        admin
            .get(&format!("/s/harbour/attendance.csv?{range}"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        admin
            .get("/s/harbour/sessions/not-an-id/roster.csv")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // The reports page and its server function: admins only.
    let html = admin
        .get(&format!("/s/harbour/reports?{week}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-testid=\"event-stats\""), "{html}");
    assert_eq!(
        trainer.get("/s/harbour/reports").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_of(&trainer, "booking_report", &[("slug", "harbour")]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_of(
            &admin,
            "booking_report",
            &[("slug", "harbour"), ("from", "soon")]
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
