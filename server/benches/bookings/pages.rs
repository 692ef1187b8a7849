//! Section 3: the week view and a session page at 10,000 and at 1,000,000 bookings.

use super::*;

/// The society `weekly`: every member approved, `SERIES` weekly series (each on one weekday,
/// so 100 sessions a week) from 52 weeks ago for `WEEKS` weeks, written in bulk, numbered in
/// `bench_weekly` in start order.
pub(crate) async fn seed_weekly(pool: &PgPool, founder: &app::access::CurrentUser) -> SocietyId {
    let mut tx = pool.begin().await.unwrap();
    let society = new_society(&mut tx, founder, "weekly", "Weekly Club").await;
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status)
         select $1, user_id, 'member', 'approved' from bench_members",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .unwrap();
    let start = this_monday() - chrono::Duration::weeks(52);
    let days = WEEKS * 7 - 1;
    sqlx::query(
        "insert into events (society_id, title, capacity, duration_minutes, time_zone, start_date,
                             start_time, weekdays, interval_weeks, until_date, last_date, generated_until)
         select $1, 'Series ' || k, $2, 60, 'Europe/Berlin', $3::date, make_time(7 + k / 7, 0, 0),
                array[1 + k % 7]::smallint[], 1, $3::date + $4, $3::date + $4, $3::date + $4
           from generate_series(0, $5 - 1) as k",
    )
    .bind(society)
    .bind(SERIES_CAPACITY)
    .bind(start)
    .bind(days)
    .bind(SERIES)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "insert into occurrences (society_id, event_id, series_date, starts_at, ends_at, capacity)
         select e.society_id, e.id, d::date, (d::date + e.start_time) at time zone 'Europe/Berlin',
                (d::date + e.start_time) at time zone 'Europe/Berlin' + interval '60 minutes', e.capacity
           from events e
          cross join generate_series($2::date, $2::date + $3, interval '1 day') as d
          where e.society_id = $1 and extract(isodow from d) = e.weekdays[1]",
    )
    .bind(society)
    .bind(start)
    .bind(days)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "create table bench_weekly as
         select (row_number() over (order by starts_at, id) - 1)::int as k, id, society_id, starts_at
           from occurrences where society_id = $1",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("alter table bench_weekly add primary key (k)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    society
}

/// Writes the `weekly` bookings numbered `from..to`: booking `b` is place `j = b / sessions`
/// on session `k = b % sessions`, held by member `(7k + 101j) % 10,000` (different members on
/// one session, as 101 is prime to 10,000); places past the capacity are waitlisted. The
/// counter trigger is off during the load (it would update the session row once per booking)
/// and the counters are recomputed in one statement instead, all in one transaction; then
/// the tables are vacuumed.
pub(crate) async fn load_bookings(
    pool: &PgPool,
    society: SocietyId,
    sessions: i64,
    from: i64,
    to: i64,
) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("alter table bookings disable trigger bookings_count")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "insert into bookings (society_id, occurrence_id, user_id, status, queue_number, confirmed_at, created_at)
         select s.society_id, s.id, m.user_id,
                case when p.j < $4 then 'confirmed' else 'waitlisted' end::booking_status,
                case when p.j >= $4 then nextval('bookings_queue_number_seq') end,
                case when p.j < $4 then least(now(), s.starts_at - interval '7 days') + p.j * interval '1 second' end,
                least(now(), s.starts_at - interval '7 days') + p.j * interval '1 second'
           from generate_series($1::bigint, $2::bigint - 1) as b
          cross join lateral (select (b % $3)::int as k, b / $3 as j) as p
           join bench_weekly s on s.k = p.k
           join bench_members m on m.n = (p.k * 7 + p.j * 101) % $5",
    )
    .bind(from)
    .bind(to)
    .bind(sessions)
    .bind(i64::from(SERIES_CAPACITY))
    .bind(i64::from(MEMBERS))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "update occurrences o set confirmed_count = c.confirmed, waitlisted_count = c.waitlisted
           from (select occurrence_id,
                        count(*) filter (where status = 'confirmed' and not walk_in) as confirmed,
                        count(*) filter (where status = 'waitlisted') as waitlisted
                   from bookings where society_id = $1 group by occurrence_id) as c
          where o.id = c.occurrence_id",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("alter table bookings enable trigger bookings_count")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // As autovacuum would have by the time the pages are read (hint bits, visibility map,
    // statistics); this server may run without it.
    sqlx::raw_sql("vacuum analyze bookings, occurrences")
        .execute(pool)
        .await
        .unwrap();
}

pub(crate) async fn section_3(scratch: &Scratch, pool: &PgPool, club: &Club) {
    let seeding = Instant::now();
    let society = seed_weekly(pool, &club.founder).await;
    let sessions: i64 = sqlx::query_scalar("select count(*) from bench_weekly")
        .fetch_one(pool)
        .await
        .unwrap();
    let next_monday = this_monday() + chrono::Duration::days(7);
    // The first session of next week, and the member with place `VIEWER_PLACE` on it.
    let (session, k): (uuid::Uuid, i32) = sqlx::query_as(
        "select id, k from bench_weekly
          where starts_at >= ($1::date::timestamp at time zone 'Europe/Berlin')
          order by k limit 1",
    )
    .bind(next_monday)
    .fetch_one(pool)
    .await
    .unwrap();
    if i64::from(k) + VIEWER_PLACE * sessions >= LARGE {
        abort("the viewer's place is past the 1,000,000 bookings");
    }
    let viewer = ((i64::from(k) * 7 + VIEWER_PLACE * 101) % i64::from(MEMBERS)) as usize;
    println!(
        "\n3. Pages for a signed-in member of `weekly` ({SERIES} weekly series × {WEEKS} weeks = \
         {sessions} sessions of {SERIES_CAPACITY} spots, seeded in {:.1} s); {PAGE_REQUESTS} \
         requests each, {PAGE_CONCURRENCY} clients",
        seeding.elapsed().as_secs_f64()
    );
    let (addr, _, serve) = start_server(scratch, Some(pool.clone())).await;
    let cookie = support::sign_in_from(pool, addr, &email(viewer), "bench-viewer").await;
    let week = format!("/s/weekly/calendar?view=week&date={next_monday}");
    let page = format!("/s/weekly/sessions/{session}");
    println!(
        "{:<12} {:<14} {:>12} {:>8} {:>8} {:>8} {:>8}  shown",
        "bookings", "page", "in table", "req/s", "p50 ms", "p95 ms", "p99 ms"
    );
    let mut results = Vec::new();
    let mut loaded = 0;
    for size in [SMALL, LARGE] {
        let loading = Instant::now();
        load_bookings(pool, society, sessions, loaded, size).await;
        loaded = size;
        let load_secs = loading.elapsed().as_secs_f64();
        let total: i64 = sqlx::query_scalar("select count(*) from bookings")
            .fetch_one(pool)
            .await
            .unwrap();
        let mine: i64 = sqlx::query_scalar(
            "select count(*) from bookings where society_id = $1 and user_id = (select user_id from bench_members where n = $2)",
        )
        .bind(society)
        .bind(viewer as i32)
        .fetch_one(pool)
        .await
        .unwrap();
        println!(
            "  ({size} bookings in `weekly`, loaded and vacuumed in {load_secs:.1} s; the viewer \
             holds {mine} of them)"
        );
        for (name, path) in [("week view", &week), ("session page", &page)] {
            let request = support::Request {
                post: false,
                path: path.clone(),
                cookie: Some(cookie.clone()),
                brotli: false,
            };
            // Warm-up (plans, caches), outside the timing.
            support::load(addr, request.clone(), PAGE_WARM_UP, PAGE_CONCURRENCY).await;
            let (elapsed, mut latencies, body) =
                support::load(addr, request, PAGE_REQUESTS, PAGE_CONCURRENCY).await;
            latencies.sort();
            let pct = |p: f64| support::percentile_ms(&latencies, p);
            let shown = if name == "week view" {
                let n = body.matches("data-testid=\"session\"").count();
                if n != SERIES as usize {
                    abort(&format!("the week view shows {n} sessions, not {SERIES}"));
                }
                format!("{n} sess.")
            } else {
                let spots = text_of(&body, "data-testid=\"session-spots\"")
                    .unwrap_or_else(|| abort("the session page shows no spots"));
                let mine = attribute_after(&body, "data-testid=\"my-booking\"", "data-status")
                    .unwrap_or_else(|| "none".into());
                format!("{spots}; mine: {mine}")
            };
            println!(
                "{:<12} {:<14} {:>12} {:>8.0} {:>8.2} {:>8.2} {:>8.2}  {}",
                size,
                name,
                total,
                PAGE_REQUESTS as f64 / elapsed.as_secs_f64(),
                pct(0.50),
                pct(0.95),
                pct(0.99),
                shown
            );
            results.push((pct(0.50), pct(0.99)));
        }
    }
    for (i, name) in ["week view", "session page"].into_iter().enumerate() {
        let (small, large) = (results[i], results[i + 2]);
        let (p50, p99) = (large.0 / small.0, large.1 / small.1);
        println!(
            "{name}: 1,000,000 ÷ 10,000 bookings = {p50:.2}× at p50, {p99:.2}× at p99 \
             (target ≤ 1.5×: {})",
            verdict(p50 <= 1.5 && p99 <= 1.5)
        );
        support::figure(
            &format!("{name} p99 at 1,000,000 bookings ({PAGE_CONCURRENCY} clients)"),
            "≤ 1.5× at 10,000",
            &format!("{:.1} ms", large.1),
            &format!("at 10,000 bookings {:.1} ms: {p99:.2}×", small.1),
        );
    }
    serve.abort();
}

/// The text of the element that `marker` (an attribute) opens in `html`.
pub(crate) fn text_of(html: &str, marker: &str) -> Option<String> {
    let rest = &html[html.find(marker)?..];
    let text = &rest[rest.find('>')? + 1..];
    Some(text[..text.find('<')?].trim().to_string())
}

/// The value of `name` in the element that `marker` (an attribute) is in.
pub(crate) fn attribute_after(html: &str, marker: &str, name: &str) -> Option<String> {
    let rest = &html[html.find(marker)?..];
    let tag = &rest[..rest.find('>')?];
    let value = &tag[tag.find(&format!("{name}=\""))? + name.len() + 2..];
    Some(value[..value.find('"')?].to_string())
}
