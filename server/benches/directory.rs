//! Member directory benchmark: search, filter and page through a society of 10,000 members.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p server --bench directory
//!
//! Creates a scratch database, loads one society with `MEMBERS` people (realistic names,
//! 90% approved, some trainers, admins, pending, suspended and rejected), then runs each query
//! `RUNS` times one after another, as an admin paging the directory would, and prints the
//! latency percentiles of the domain call (SQL round trip included).

use std::time::{Duration, Instant};

use app::access::{MembershipRole, MembershipStatus};
use app::members::{db as members, DirectoryQuery};
use support::Scratch;

mod support;

const MEMBERS: i32 = 10_000;
const RUNS: usize = 300;

#[tokio::main]
async fn main() {
    let scratch = Scratch::create("roster_bench_directory").await;
    let config = scratch.config("127.0.0.1:3000".parse().unwrap(), false);
    let pool = server::connect(&config).await.unwrap();
    let seeded = Instant::now();
    let (society, actor) = seed(&pool).await;
    println!(
        "Roster directory benchmark: {MEMBERS} members in one society (seeded in {:.1} s), {RUNS} runs per query, one client",
        seeded.elapsed().as_secs_f64()
    );
    println!(
        "{:<44} {:>7} {:>8} {:>8} {:>8} {:>8}",
        "query", "matches", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    let query = |q: &str, role, status, page| DirectoryQuery {
        q: q.into(),
        role,
        status,
        page,
    };
    let cases = [
        ("everyone, first page", query("", None, None, 1)),
        ("everyone, last page", query("", None, None, 200)),
        (
            "approved members, page 50",
            query("", None, Some(MembershipStatus::Approved), 50),
        ),
        (
            "trainers",
            query("", Some(MembershipRole::Trainer), None, 1),
        ),
        ("name contains \"smith\"", query("smith", None, None, 1)),
        (
            "name contains \"a\" (broad), page 3",
            query("a", None, None, 3),
        ),
        (
            "email contains \"member42\"",
            query("member42", None, None, 1),
        ),
        ("no match", query("zzzz", None, None, 1)),
    ];
    let mut conn = pool.acquire().await.unwrap();
    let staff = app::access::require_staff(&mut conn, society, actor)
        .await
        .unwrap();
    for (name, query) in cases {
        let mut latencies = Vec::with_capacity(RUNS);
        let mut matches = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let page = members::directory(&mut conn, &staff, &query).await.unwrap();
            latencies.push(t.elapsed());
            matches = page.total;
        }
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let pct = |p: f64| ms(latencies[((RUNS as f64 * p) as usize).min(RUNS - 1)]);
        println!(
            "{:<44} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            name,
            matches,
            pct(0.50),
            pct(0.95),
            pct(0.99),
            ms(*latencies.last().unwrap())
        );
    }
    drop(conn);
    pool.close().await;
    scratch.drop().await;
}

/// One society, its admin, and `MEMBERS` more people; returns the society and the admin.
async fn seed(pool: &sqlx::PgPool) -> (app::ids::SocietyId, app::ids::UserId) {
    let society: uuid::Uuid = sqlx::query_scalar(
        "insert into societies (slug, name, time_zone) values ('bench', 'Bench Club', 'Europe/Berlin') returning id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let actor: uuid::Uuid = sqlx::query_scalar(
        "insert into users (issuer, subject, email, name) values ('bench', 'admin', 'admin@bench.example', 'Bench Admin')
         returning id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into memberships (society_id, user_id, role, status) values ($1, $2, 'admin', 'approved')",
    )
    .bind(society)
    .bind(actor)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "with people as (
            insert into users (issuer, subject, email, name)
            select 'bench', 'member' || i, 'member' || i || '@bench.example',
                   (array['Anna','Ben','Chloé','David','Eva','Finn','Greta','Hugo','Ida','Jonas','Kira','Luca','Mia','Noah','Olivia','Paul'])[1 + i % 16]
                   || ' ' ||
                   (array['Smith','Müller','García','Rossi','Nowak','Johansson','Dubois','Kowalski','Silva','Novak','Jensen','Murphy','Schmidt','Costa','Horvat','Smithson','Meyer','Fischer','Weber','Wagner'])[1 + (i / 16) % 20]
                   || ' ' || i
              from generate_series(1, $2) as i
            returning id, subject
         )
         insert into memberships (society_id, user_id, role, status)
         select $1, id,
                (case when n % 100 = 0 then 'admin' when n % 20 = 0 then 'trainer' else 'member' end)::membership_role,
                (case when n % 50 = 1 then 'rejected' when n % 20 = 3 then 'pending' when n % 33 = 5 then 'suspended' else 'approved' end)::membership_status
           from (select id, substr(subject, 7)::int as n from people) p",
    )
    .bind(society)
    .bind(MEMBERS)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("analyze").execute(pool).await.unwrap();
    (app::ids::SocietyId(society), app::ids::UserId(actor))
}
