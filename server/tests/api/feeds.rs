//! iCal feeds, read back with an independent parser (PyPI `icalendar`, as a calendar app
//! would): local times on both sides of a DST change, cancelled sessions, stable UIDs and
//! SEQUENCE, and who may fetch which feed.

use chrono::{Duration, NaiveDate, Offset, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::{new_society, person, put_membership, spawn_app, TestApp};

/// The feed at `path` as the independent parser reads it, with local times in `zone`.
async fn read_feed(browser: &TestApp, path: &str, zone: &str) -> Value {
    let response = browser.client.get(browser.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "text/calendar; charset=utf-8");
    let body = response.bytes().await.unwrap();
    let file = std::env::temp_dir().join(format!("roster-feed-{}.ics", uuid::Uuid::new_v4()));
    std::fs::write(&file, &body).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../end2end/support/read_ical.py"
    );
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(&file)
        .arg(zone)
        .output()
        .expect("python3 runs");
    std::fs::remove_file(&file).ok();
    assert!(
        output.status.success(),
        "the parser refused the feed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The first day after today on which Berlin's UTC offset changes.
fn next_dst_change() -> NaiveDate {
    let berlin = chrono_tz::Europe::Berlin;
    let offset = |d: NaiveDate| {
        berlin
            .offset_from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .fix()
    };
    let mut day = Utc::now().date_naive() + Duration::days(1);
    while offset(day) == offset(day - Duration::days(1)) {
        day += Duration::days(1);
    }
    day
}

async fn one_session(
    admin: &TestApp,
    slug: &str,
    title: &str,
    date: NaiveDate,
    trainer: Option<&str>,
) -> String {
    let date = date.to_string();
    let mut form = vec![
        ("slug", slug),
        ("title", title),
        ("location", "Boathouse"),
        ("capacity", "10"),
        ("duration_minutes", "60"),
        ("start_date", &date),
        ("start_time", "18:00"),
    ];
    if let Some(trainer) = trainer {
        form.push(("trainer_ids[]", trainer));
    }
    let response = admin.call("create_event", &form).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["occurrence_ids"][0].as_str().unwrap().to_string()
}

/// Makes `who`'s secret feed address (of `society`'s feed, or their own with ""): the
/// address, shown this once.
async fn make_feed(who: &TestApp, society: &str) -> Value {
    let r = who
        .call("reset_calendar_feed", &[("society", society)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()
}

/// The feed addresses `browser`'s user sees on `/me`.
async fn links(browser: &TestApp) -> Value {
    let response = browser.call("calendar_feeds", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_public_feed_shows_local_times_across_dst_cancellations_and_updates_in_place(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    sqlx::query("update societies set calendar_public = true where slug = 'harbour'")
        .execute(&pool)
        .await
        .unwrap();
    let change = next_dst_change();
    let before = one_session(
        &app,
        "harbour",
        "Before the change",
        change - Duration::days(3),
        None,
    )
    .await;
    let after = one_session(
        &app,
        "harbour",
        "After the change",
        change + Duration::days(3),
        None,
    )
    .await;

    let visitor = app.other_browser();
    let feed = read_feed(&visitor, "/s/harbour/calendar.ics", "Europe/Berlin").await;
    assert_eq!(feed["name"], "Harbour Rowing Club");
    assert_eq!(feed["zone"], "Europe/Berlin");
    assert_eq!(feed["version"], "2.0");
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let host = app.base.host_str().unwrap().to_string();
    for (event, id) in events.iter().zip([&before, &after]) {
        assert_eq!(event["uid"], format!("{id}@{host}"));
        assert!(
            event["start_local"].as_str().unwrap().ends_with("18:00"),
            "{event}"
        );
        assert!(
            event["end_local"].as_str().unwrap().ends_with("19:00"),
            "{event}"
        );
        assert_eq!(event["status"], "CONFIRMED");
        assert_eq!(event["sequence"], 0);
    }
    // The same wall-clock time is a different UTC hour on either side of the change.
    let utc_hour = |e: &Value| e["start_utc"].as_str().unwrap()[11..13].to_string();
    assert_ne!(utc_hour(&events[0]), utc_hour(&events[1]));

    // Cancelled and changed: the same entries, updated in place.
    let cancelled = app
        .call(
            "cancel_session",
            &[
                ("slug", "harbour"),
                ("id", &before),
                ("reason", "High water"),
            ],
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let later = (change + Duration::days(3)).to_string();
    let moved = app
        .call(
            "change_session",
            &[
                ("slug", "harbour"),
                ("id", &after),
                ("scope", "one"),
                ("start_date", &later),
                ("start_time", "19:15"),
                ("duration_minutes", "60"),
                ("location", "Lake"),
                ("capacity", "10"),
            ],
        )
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let feed = read_feed(&visitor, "/s/harbour/calendar.ics", "Europe/Berlin").await;
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "a cancelled session stays in the feed");
    assert_eq!(events[0]["uid"], format!("{before}@{host}"));
    assert_eq!(events[0]["status"], "CANCELLED");
    assert_eq!(events[0]["sequence"], 1);
    assert_eq!(events[1]["uid"], format!("{after}@{host}"));
    assert!(events[1]["start_local"]
        .as_str()
        .unwrap()
        .ends_with("19:15"));
    assert_eq!(events[1]["sequence"], 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn private_and_personal_feeds_are_secret_addresses_that_can_be_replaced(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    new_society(&app, "harbour").await;
    new_society(&app, "river").await;
    let (member, _, member_id) = person(&app, "member").await;
    let (trainer, _, trainer_id) = person(&app, "trainer").await;
    put_membership(&pool, "harbour", &member_id, "member", "approved").await;
    put_membership(&pool, "harbour", &trainer_id, "trainer", "approved").await;
    let day = Utc::now().date_naive() + Duration::days(2);
    one_session(&app, "harbour", "Squad", day, Some(&trainer_id)).await;
    let open_water =
        one_session(&app, "harbour", "Open water", day + Duration::days(1), None).await;
    one_session(&app, "river", "River only", day, None).await;

    // Not public: no public feed, for anyone.
    assert_eq!(
        app.get("/s/harbour/calendar.ics").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/feeds/guess.ics").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.other_browser()
            .call("calendar_feeds", &[])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let path = |url: &Value| {
        let url = url::Url::parse(url.as_str().unwrap()).unwrap();
        url.path().to_string()
    };
    // A secret address is made on request and shown that once: the list never shows one.
    let member_links = links(&member).await;
    assert_eq!(member_links.as_array().unwrap().len(), 2, "{member_links}");
    assert_eq!(member_links[1]["society"], "harbour");
    assert_eq!(member_links[1]["url"], Value::Null);
    assert_eq!(member_links[1]["made_at"], Value::Null);
    let first = make_feed(&member, "harbour").await;
    let society_feed = path(&first);
    let token = society_feed
        .trim_start_matches("/feeds/")
        .trim_end_matches(".ics")
        .to_string();
    // Only its fingerprint is kept, as with sign-in links.
    crate::assert_not_stored(&pool, &token).await;
    let listed = links(&member).await;
    assert_eq!(listed[1]["url"], Value::Null, "never shown again");
    assert!(listed[1]["made_at"].is_string());
    // Calendar apps fetch without cookies.
    let app_client = app.other_browser();
    let feed = read_feed(&app_client, &society_feed, "Europe/Berlin").await;
    let titles: Vec<&str> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Squad", "Open water"], "harbour's sessions only");
    // A new one replaces it.
    let replaced = path(&make_feed(&member, "harbour").await);
    assert_eq!(
        app_client.get(&society_feed).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_ne!(replaced, society_feed);
    read_feed(&app_client, &replaced, "Europe/Berlin").await;
    // Someone who leaves the society loses its feed.
    sqlx::query("update memberships set status = 'suspended' where user_id = $1::uuid")
        .bind(&member_id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        app_client.get(&replaced).await.status(),
        StatusCode::NOT_FOUND
    );

    // The trainer's own feed: what they teach, nothing else.
    let personal = path(&make_feed(&trainer, "").await);
    let feed = read_feed(&app_client, &personal, "Europe/Berlin").await;
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert!(events[0]["summary"].as_str().unwrap().starts_with("Squad"));
    assert!(events[0]["start_local"]
        .as_str()
        .unwrap()
        .ends_with("18:00"));

    // A member's own feed: the sessions they booked, until they cancel.
    sqlx::query("update memberships set status = 'approved' where user_id = $1::uuid")
        .bind(&member_id)
        .execute(&pool)
        .await
        .unwrap();
    let own = path(&make_feed(&member, "").await);
    let feed = read_feed(&app_client, &own, "Europe/Berlin").await;
    assert_eq!(
        feed["events"].as_array().unwrap().len(),
        0,
        "nothing booked yet"
    );
    let booked = member
        .call("book_session", &[("slug", "harbour"), ("id", &open_water)])
        .await;
    assert_eq!(booked.status(), StatusCode::OK);
    let booking: Value = booked.json().await.unwrap();
    let feed = read_feed(&app_client, &own, "Europe/Berlin").await;
    let titles: Vec<&str> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Open water (Harbour Rowing Club)"],
        "what they booked, nothing else"
    );
    let cancelled = member
        .call("cancel_booking", &[("id", booking["id"].as_str().unwrap())])
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let feed = read_feed(&app_client, &own, "Europe/Berlin").await;
    assert_eq!(
        feed["events"].as_array().unwrap().len(),
        0,
        "a cancelled booking leaves the feed"
    );
}
