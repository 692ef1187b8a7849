//! Events over HTTP: who may set up, change, cancel and read sessions (the authorization
//! matrix extended to every event action, the calendar and the session pages), ids guessed
//! through another society, public calendars, and bad input answered by field.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::{future_date, new_society, person, put_membership, spawn_app, weekly_series, TestApp};

/// Everything an event call could change, as text.
async fn snapshot(pool: &PgPool) -> String {
    let rows: Vec<String> = sqlx::query_scalar(
        "select concat_ws('|', 'e', id, title, location, capacity, until_date, count, last_date) from events
         union all select concat_ws('|', 'o', id, event_id, starts_at, location, capacity, status, sequence) from occurrences
         union all select concat_ws('|', 't', occurrence_id, trainer_id) from occurrence_trainers
         union all select concat_ws('|', 'c', id, name) from event_categories
         union all select concat_ws('|', 'a', count(*)) from audit_log
         union all select concat_ws('|', 'n', count(*)) from notification_outbox
         order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.join("\n")
}

#[sqlx::test(migrations = "../migrations")]
async fn every_event_action_and_read_holds_the_authorization_matrix(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    new_society(&app, "river").await;
    let (admin_a, _, admin_a_id) = person(&app, "admin-a").await;
    let (admin_b, _, admin_b_id) = person(&app, "admin-b").await;
    let (trainer, _, trainer_id) = person(&app, "trainer").await;
    let (member, _, member_id) = person(&app, "member").await;
    let (pending, _, pending_id) = person(&app, "pending").await;
    let (outsider, _, _) = person(&app, "outsider").await;
    let visitor = app.other_browser();
    put_membership(&pool, "harbour", &admin_a_id, "admin", "approved").await;
    put_membership(&pool, "river", &admin_b_id, "admin", "approved").await;
    put_membership(&pool, "harbour", &trainer_id, "trainer", "approved").await;
    put_membership(&pool, "harbour", &member_id, "member", "approved").await;
    put_membership(&pool, "harbour", &pending_id, "member", "pending").await;
    sqlx::query("delete from memberships where user_id = (select id from users where issuer <> 'roster:email')")
        .execute(&pool)
        .await
        .unwrap();

    let (event_id, sessions) = weekly_series(&admin_a, &trainer_id).await;
    let category: serde_json::Value = admin_a
        .call("create_category", &[("slug", "harbour"), ("name", "Squad")])
        .await
        .json()
        .await
        .unwrap();
    let category_id = category["id"].as_str().unwrap().to_string();
    let (first, second, third) = (&sessions[0], &sessions[1], &sessions[2]);
    let start = future_date(30);
    let until = future_date(9);
    let calls: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "create_event",
            vec![
                ("title", "Taken over"),
                ("capacity", "5"),
                ("duration_minutes", "60"),
                ("start_date", &start),
                ("start_time", "10:00"),
            ],
        ),
        (
            "change_session",
            vec![
                ("id", first),
                ("scope", "one"),
                ("start_date", &start),
                ("start_time", "07:00"),
                ("duration_minutes", "30"),
                ("location", "Lake"),
                ("capacity", "3"),
            ],
        ),
        (
            "change_session",
            vec![
                ("id", second),
                ("scope", "following"),
                ("title", "Renamed"),
                ("start_time", "19:00"),
                ("duration_minutes", "90"),
                ("location", "Boathouse"),
                ("capacity", "12"),
            ],
        ),
        ("cancel_session", vec![("id", third), ("reason", "Storm")]),
        ("end_series", vec![("event", &event_id), ("until", &until)]),
        ("create_category", vec![("name", "Masters")]),
        ("delete_category", vec![("id", &category_id)]),
        ("delete_event", vec![("event", &event_id)]),
    ];
    let before = snapshot(&pool).await;

    // Writes: admins of harbour only.
    let refused: [(&str, &TestApp, StatusCode); 6] = [
        ("trainer", &trainer, StatusCode::FORBIDDEN),
        ("member", &member, StatusCode::FORBIDDEN),
        ("pending", &pending, StatusCode::FORBIDDEN),
        ("other society's admin", &admin_b, StatusCode::FORBIDDEN),
        ("outsider", &outsider, StatusCode::FORBIDDEN),
        ("visitor", &visitor, StatusCode::UNAUTHORIZED),
    ];
    for (who, browser, expected) in &refused {
        for (function, args) in &calls {
            let mut form = vec![("slug", "harbour")];
            form.extend(args.iter().copied());
            let response = browser.call(function, &form).await;
            assert_eq!(response.status(), *expected, "{who} calling {function}");
        }
        let status = browser
            .call("event_form_options", &[("slug", "harbour")])
            .await
            .status();
        assert_eq!(status, *expected, "{who} reading the event form options");
        let status = browser.get("/s/harbour/events/new").await.status();
        assert_eq!(status, *expected, "{who} opening the new event page");
    }

    // Reads: approved members in any role; a private calendar refuses everyone else.
    let readers: [(&str, &TestApp, StatusCode); 7] = [
        ("admin", &admin_a, StatusCode::OK),
        ("trainer", &trainer, StatusCode::OK),
        ("member", &member, StatusCode::OK),
        ("pending", &pending, StatusCode::FORBIDDEN),
        ("other society's admin", &admin_b, StatusCode::FORBIDDEN),
        ("outsider", &outsider, StatusCode::FORBIDDEN),
        ("visitor", &visitor, StatusCode::UNAUTHORIZED),
    ];
    let week = future_date(7);
    for (who, browser, expected) in &readers {
        let calendar = browser
            .call(
                "calendar",
                &[("slug", "harbour"), ("view", "month"), ("date", &week)],
            )
            .await;
        assert_eq!(calendar.status(), *expected, "{who} reading the calendar");
        if *expected == StatusCode::OK {
            let body = calendar.text().await.unwrap();
            assert!(body.contains("Squad training"), "{who}: {body}");
        }
        let detail = browser
            .call("occurrence", &[("slug", "harbour"), ("id", first)])
            .await;
        assert_eq!(detail.status(), *expected, "{who} reading a session");
        for page in [
            "/s/harbour/calendar".to_string(),
            format!("/s/harbour/sessions/{first}"),
        ] {
            let response = browser.get(&page).await;
            assert_eq!(response.status(), *expected, "{who} opening {page}");
        }
    }
    // The trainer finds the sessions under "My sessions"; the member teaches none.
    let taught = trainer.get("/my-sessions").await.text().await.unwrap();
    assert_eq!(
        taught.matches("data-testid=\"session\"").count(),
        4,
        "{taught}"
    );
    let none = member.get("/my-sessions").await.text().await.unwrap();
    assert!(none.contains("You teach no upcoming sessions."));

    // River's admin guesses harbour's ids through river: nothing is found.
    for (function, args) in &calls {
        if matches!(*function, "create_event" | "create_category") {
            continue;
        }
        let mut form = vec![("slug", "river")];
        form.extend(args.iter().copied());
        let response = admin_b.call(function, &form).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "guessing through river: {function}"
        );
    }
    let guessed = admin_b
        .call("occurrence", &[("slug", "river"), ("id", first)])
        .await;
    assert_eq!(guessed.status(), StatusCode::NOT_FOUND);
    let page = admin_b.get(&format!("/s/river/sessions/{first}")).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let odd = admin_a
        .call("occurrence", &[("slug", "harbour"), ("id", "not-an-id")])
        .await;
    assert_eq!(odd.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        snapshot(&pool).await,
        before,
        "refused calls changed nothing"
    );

    // A public calendar: visitors read it, and still write nothing.
    let public = admin_a
        .call(
            "update_society_settings",
            &[
                ("slug", "harbour"),
                ("name", "Harbour Rowing Club"),
                ("description", ""),
                ("time_zone", "Europe/Berlin"),
                ("join_policy", "approval"),
                ("calendar_public", "on"),
            ],
        )
        .await;
    assert_eq!(public.status(), StatusCode::OK);
    assert_eq!(
        visitor.get("/s/harbour/calendar").await.status(),
        StatusCode::OK
    );
    let session_page = visitor.get(&format!("/s/harbour/sessions/{first}")).await;
    assert_eq!(session_page.status(), StatusCode::OK);
    let html = session_page.text().await.unwrap();
    assert!(html.contains("Squad training") && !html.contains("Cancel session"));
    let write = visitor
        .call(
            "cancel_session",
            &[("slug", "harbour"), ("id", first), ("reason", "x")],
        )
        .await;
    assert_eq!(write.status(), StatusCode::UNAUTHORIZED);

    // Harbour's admin: every call works, in order.
    for (function, args) in &calls {
        let mut form = vec![("slug", "harbour")];
        form.extend(args.iter().copied());
        let response = admin_a.call(function, &form).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "admin calling {function}: {body}");
    }
    assert_eq!(
        crate::count(&pool, "events where title = 'Taken over'").await,
        1
    );
    assert_eq!(
        crate::count(&pool, "events where title = 'Renamed'").await,
        1,
        "the split-off series outlives the deleted one"
    );
    assert_eq!(crate::count(&pool, "event_categories").await, 1);
    assert_eq!(
        crate::count(
            &pool,
            "audit_log where action::text like 'event.%' or action::text like 'occurrence.%'"
        )
        .await,
        // created ×2, changed one, changed following, cancelled, series ended, deleted
        7
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_event_input_is_a_422_naming_the_field_and_a_clash_names_the_session(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    let (_trainer, _, trainer_id) = person(&app, "trainer").await;
    put_membership(&pool, "harbour", &trainer_id, "trainer", "approved").await;
    let start = future_date(5);
    let base: Vec<(&str, &str)> = vec![
        ("slug", "harbour"),
        ("title", "Squad"),
        ("capacity", "12"),
        ("duration_minutes", "90"),
        ("start_date", &start),
        ("start_time", "18:00"),
        ("trainer_ids[]", &trainer_id),
    ];
    let with = |field: &'static str, value: &'static str| {
        let mut form: Vec<(&str, &str)> =
            base.iter().copied().filter(|(k, _)| *k != field).collect();
        form.push((field, value));
        form
    };
    let cases = [
        (with("capacity", "lots"), "capacity"),
        (with("capacity", "0"), "capacity"),
        (with("duration_minutes", "100000"), "duration_minutes"),
        (with("start_date", "tomorrow"), "start_date"),
        (with("start_time", "6pm"), "start_time"),
        (with("title", ""), "title"),
        (with("category", "nope"), "category"),
        (
            with("category", "5f0c3d1e-6a59-4f7c-9c7b-0d6f1f1b1b1b"),
            "category",
        ),
        (
            with("trainer_ids[]", "5f0c3d1e-6a59-4f7c-9c7b-0d6f1f1b1b1b"),
            "trainer_ids",
        ),
        (with("repeat", "weekly"), "weekdays"),
    ];
    for (form, field) in cases {
        let response = app.call("create_event", &form).await;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(body["Invalid"]["field"], field, "{body}");
    }
    assert_eq!(crate::count(&pool, "events").await, 0);
    // The same trainer at an overlapping time: a 409 that names the session.
    let first = app.call("create_event", &base).await;
    assert_eq!(first.status(), StatusCode::OK);
    let clash = app.call("create_event", &with("start_time", "19:00")).await;
    assert_eq!(clash.status(), StatusCode::CONFLICT);
    let message = clash.text().await.unwrap();
    assert!(message.contains("already teaches “Squad”"), "{message}");
    assert_eq!(crate::count(&pool, "events").await, 1);
}
