//! Demo data for a newcomer's first run: one society with an admin, trainers and members, a
//! realistic week of sessions (several weekly series with trainers, one session cancelled) and
//! its bookings (a full session with a waitlist, a term enrolment, last week's session with
//! attendance and a no-show's strike).
//! Loading is idempotent: running it again changes nothing.

use app::access::{require_platform_admin, MembershipRole, MembershipStatus};
use app::auth::db::{upsert_identity, Identity, EMAIL_ISSUER};
use app::error::AppError;
use app::societies::NewSociety;
use app::state::DemoAccount;
use sqlx::PgPool;

/// The demo admin is a platform admin too, so a newcomer can create societies.
pub const PLATFORM_ADMIN_EMAIL: &str = "admin@demo.roster.test";
pub const SOCIETY_SLUG: &str = "riverside-rowing";

/// (email, name, role, status); the first three are named on the sign-in page.
const PEOPLE: &[(&str, &str, MembershipRole, MembershipStatus)] = &[
    (
        PLATFORM_ADMIN_EMAIL,
        "Alex Admin",
        MembershipRole::Admin,
        MembershipStatus::Approved,
    ),
    (
        "trainer@demo.roster.test",
        "Tara Trainer",
        MembershipRole::Trainer,
        MembershipStatus::Approved,
    ),
    (
        "member@demo.roster.test",
        "Max Member",
        MembershipRole::Member,
        MembershipStatus::Approved,
    ),
    (
        "coach@demo.roster.test",
        "Chris Coach",
        MembershipRole::Trainer,
        MembershipStatus::Approved,
    ),
    (
        "jo@demo.roster.test",
        "Jo Rower",
        MembershipRole::Member,
        MembershipStatus::Approved,
    ),
    (
        "sam@demo.roster.test",
        "Sam Sculler",
        MembershipRole::Member,
        MembershipStatus::Approved,
    ),
    (
        "newcomer@demo.roster.test",
        "Nia Newcomer",
        MembershipRole::Member,
        MembershipStatus::Pending,
    ),
];

/// Loads the demo society and people; returns the accounts to name on the sign-in page.
pub async fn load(pool: &PgPool) -> Result<Vec<DemoAccount>, AppError> {
    let mut tx = pool.begin().await?;
    // Servers starting at once load the demo one after the other (the second finds it there).
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('roster demo data', 0))")
        .execute(&mut *tx)
        .await?;
    let mut users = Vec::new();
    for (email, name, _, _) in PEOPLE {
        let identity = Identity {
            issuer: EMAIL_ISSUER.into(),
            subject: email.to_string(),
            email: email.to_string(),
            email_verified: true,
            name: name.to_string(),
            is_platform_admin: *email == PLATFORM_ADMIN_EMAIL,
        };
        users.push(upsert_identity(&mut tx, &identity).await?);
    }
    let society = match app::societies::db::find_by_slug(pool, SOCIETY_SLUG).await? {
        Some(society) => society,
        None => {
            let new = NewSociety {
                name: "Riverside Rowing Club".into(),
                slug: SOCIETY_SLUG.into(),
                time_zone: "Europe/Berlin".into(),
            };
            let creator = require_platform_admin(&users[0])?;
            app::societies::db::create(&mut tx, &creator, new).await?
        }
    };
    // Demo data, not a person's decision: written as it is, without the audit log.
    for ((_, _, role, status), user) in PEOPLE.iter().zip(&users).skip(1) {
        sqlx::query(
            "insert into memberships (society_id, user_id, role, status) values ($1, $2, $3, $4)
             on conflict on constraint memberships_pkey do update set role = excluded.role, status = excluded.status",
        )
        .bind(society.id)
        .bind(user.id)
        .bind(*role)
        .bind(*status)
        .execute(&mut *tx)
        .await?;
    }
    load_week(&mut tx, society.id, &users).await?;
    tx.commit().await?;
    tracing::info!(
        society = SOCIETY_SLUG,
        people = PEOPLE.len(),
        "demo data loaded"
    );
    Ok(PEOPLE
        .iter()
        .take(3)
        .map(|(email, name, role, _)| DemoAccount {
            email: email.to_string(),
            name: name.to_string(),
            role: role.label().to_string(),
        })
        .collect())
}

/// The society's week, made once (when it has no events yet) through the domain, as its admin
/// would: categories, four weekly series and a one-off regatta, starting this week; next
/// week's beginners' session is cancelled.
async fn load_week(
    conn: &mut sqlx::PgConnection,
    society: app::ids::SocietyId,
    users: &[app::access::CurrentUser],
) -> Result<(), AppError> {
    use app::events::{db, EventDetails, NewEvent, SeriesEnd, Weekly};
    use chrono::{Datelike, Duration, NaiveTime, Weekday};

    let events: i64 = sqlx::query_scalar("select count(*) from events where society_id = $1")
        .bind(society)
        .fetch_one(&mut *conn)
        .await?;
    if events > 0 {
        return Ok(());
    }
    let admin = app::access::lock_as_admin(&mut *conn, society, users[0].id).await?;
    let (tara, chris) = (users[1].id, users[3].id);
    let mut categories = Vec::new();
    for name in ["Beginners", "Squad", "Masters"] {
        categories.push(db::create_category(&mut *conn, &admin, name).await?.id);
    }
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let monday = today - Duration::days(today.weekday().num_days_from_monday().into());
    let until = SeriesEnd::Until(monday + Duration::weeks(20));
    let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default();
    #[allow(clippy::type_complexity)]
    let plan: [(
        &str,
        &str,
        usize,
        i32,
        i32,
        Vec<Weekday>,
        NaiveTime,
        Vec<app::ids::UserId>,
    ); 4] = [
        (
            "Beginners' rowing",
            "Learn to row in stable boats; no experience needed.",
            0,
            8,
            90,
            vec![Weekday::Tue],
            at(18, 0),
            vec![tara],
        ),
        (
            "Squad training",
            "Crew training for racing rowers.",
            1,
            16,
            90,
            vec![Weekday::Mon, Weekday::Thu],
            at(19, 30),
            vec![chris],
        ),
        (
            "Ergo circuit",
            "Indoor rowing machines and strength work.",
            1,
            12,
            60,
            vec![Weekday::Wed],
            at(7, 0),
            vec![chris],
        ),
        (
            "Saturday long row",
            "Steady distance for masters crews.",
            2,
            20,
            120,
            vec![Weekday::Sat],
            at(8, 0),
            vec![tara, chris],
        ),
    ];
    let mut beginners = Vec::new();
    let mut beginners_event = None;
    for (title, description, category, capacity, minutes, days, start, trainers) in plan {
        let created = db::create(
            &mut *conn,
            &admin,
            NewEvent {
                details: EventDetails {
                    title: title.into(),
                    description: description.into(),
                    location: "Boathouse".into(),
                    capacity,
                    duration_minutes: minutes,
                    category: Some(categories[category]),
                    trainers,
                },
                start_date: monday,
                start_time: start,
                weekly: Some(Weekly {
                    weekdays: days,
                    interval: 1,
                    end: until,
                }),
            },
        )
        .await?;
        if beginners.is_empty() {
            beginners = created.occurrence_ids;
            beginners_event = Some(created.id);
        }
    }
    db::create(
        &mut *conn,
        &admin,
        NewEvent {
            details: EventDetails {
                title: "Spring regatta".into(),
                description: "Our home regatta: every crew races, friends and family welcome."
                    .into(),
                location: "River course".into(),
                capacity: 60,
                duration_minutes: 360,
                category: None,
                trainers: Vec::new(),
            },
            start_date: monday + Duration::days(26),
            start_time: at(10, 30),
            weekly: None,
        },
    )
    .await?;
    if let Some(next_week) = beginners.get(1) {
        db::cancel_occurrence(
            &mut *conn,
            &admin,
            *next_week,
            "The boathouse is closed for maintenance.",
        )
        .await?;
    }
    let one_off = |title: &str, date, start, capacity| NewEvent {
        details: EventDetails {
            title: title.into(),
            description: String::new(),
            location: "Boathouse".into(),
            capacity,
            duration_minutes: 90,
            category: Some(categories[0]),
            trainers: vec![tara],
        },
        start_date: date,
        start_time: start,
        weekly: None,
    };
    let taster = db::create(
        &mut *conn,
        &admin,
        one_off(
            "Coastal rowing taster",
            today + Duration::days(3),
            at(10, 0),
            2,
        ),
    )
    .await?;
    let last_week = db::create(
        &mut *conn,
        &admin,
        one_off("Ergo test", today - Duration::days(7), at(18, 0), 10),
    )
    .await?;
    load_bookings(
        &mut *conn,
        society,
        users,
        &taster,
        &last_week,
        beginners_event,
    )
    .await
}

/// Max and Jo have the taster's two spots and Sam waits for one; Max is enrolled in the
/// beginners' term; at last week's ergo test Max was present and Jo did not come (a strike).
/// Made through the booking rules, at the times people would have acted.
async fn load_bookings(
    conn: &mut sqlx::PgConnection,
    society: app::ids::SocietyId,
    users: &[app::access::CurrentUser],
    taster: &app::events::CreatedEvent,
    last_week: &app::events::CreatedEvent,
    beginners: Option<app::ids::EventId>,
) -> Result<(), AppError> {
    use app::bookings::{db, Attendance};
    use chrono::Duration;

    let (tara, max, jo, sam) = (users[1].id, users[2].id, users[4].id, users[5].id);
    let now = chrono::Utc::now();
    for (who, session) in [(max, taster), (jo, taster), (sam, taster)] {
        let booker = db::lock_booker(&mut *conn, society, who, now).await?;
        db::book(&mut *conn, &booker, session.occurrence_ids[0], now).await?;
    }
    if let Some(event) = beginners {
        let booker = db::lock_booker(&mut *conn, society, max, now).await?;
        db::enrol(&mut *conn, &booker, event, None, now).await?;
    }
    let past = last_week.occurrence_ids[0];
    let starts: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select starts_at from occurrences where id = $1")
            .bind(past)
            .fetch_one(&mut *conn)
            .await?;
    let booked_then = starts - Duration::days(2);
    for who in [max, jo] {
        let booker = db::lock_booker(&mut *conn, society, who, booked_then).await?;
        db::book(&mut *conn, &booker, past, booked_then).await?;
    }
    let keeper = db::roster_keeper(&mut *conn, society, tara, past).await?;
    let taken = starts + Duration::minutes(15);
    db::mark_attendance(
        &mut *conn,
        &keeper,
        max,
        Some(Attendance::Present),
        None,
        taken,
    )
    .await?;
    db::mark_attendance(
        &mut *conn,
        &keeper,
        jo,
        Some(Attendance::Absent),
        None,
        taken,
    )
    .await?;
    Ok(())
}
