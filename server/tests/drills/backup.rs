//! Backup and restore: `deploy/backup` dumps a drill's database (pg_dump, custom format),
//! `deploy/restore` restores it into a fresh database, every table's row count and checksum
//! (and every sequence) is compared, and Roster starts on the copy and serves what it holds.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::support::*;

/// Databases the earlier drills leave, richest first (all their servers are gone by now).
const SOURCES: [&str; 4] = ["drill_kill", "drill_pg", "drill_term", "drill_rush"];

pub async fn run(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let (source, source_url) = match existing_source(ctx).await {
        Some(found) => found,
        None => seed_source(ctx, report).await?,
    };
    let dumps = ctx.work.join("backups");
    std::fs::create_dir_all(&dumps).ctx("backups folder")?;
    let path = format!(
        "{}:{}",
        ctx.cluster.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // Backup.
    let t = Instant::now();
    let out = script(
        Command::new("bash")
            .arg(root().join("deploy/backup"))
            .arg(&dumps)
            .env("DATABASE_URL", &source_url)
            .env("PATH", &path),
    )
    .await?;
    let backup_took = t.elapsed();
    for line in out.stderr.lines() {
        report.note(format!("| {line}"));
    }
    let ok = report.check(
        out.success,
        format!(
            "deploy/backup of {source} succeeded ({})",
            secs(backup_took)
        ),
    );
    if !ok {
        return Err(format!("deploy/backup failed: {}", out.stderr));
    }
    let dump = out.stdout.trim().to_string();
    let size = std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0);
    report.figure("dump", format!("{dump} ({} KiB)", size / 1024));

    // Restore into a fresh database.
    let target = "drill_restored";
    let target_url = ctx.cluster.create_database(target).await?;
    let t = Instant::now();
    let out = script(
        Command::new("bash")
            .arg(root().join("deploy/restore"))
            .arg(&dump)
            .arg(&target_url)
            .env("PATH", &path),
    )
    .await?;
    let restore_took = t.elapsed();
    for line in out.stderr.lines() {
        report.note(format!("| {line}"));
    }
    let ok = report.check(
        out.success,
        format!(
            "deploy/restore into a fresh database succeeded ({})",
            secs(restore_took)
        ),
    );
    if !ok {
        return Err(format!("deploy/restore failed: {}", out.stderr));
    }

    // Compare every table and sequence.
    let from = pool(&source_url).await?;
    let to = pool(&target_url).await?;
    let tables = tables(&from).await?;
    let restored_tables = tables_of(&to).await?;
    let mut rows = 0;
    let mut differ = Vec::new();
    let mut empty = 0;
    for table in &tables {
        let a = fingerprint(&from, table).await?;
        let b = fingerprint(&to, table).await.unwrap_or((-1, String::new()));
        rows += a.0;
        if a.0 == 0 {
            empty += 1;
        }
        if a != b {
            differ.push(format!(
                "{table}: {} rows {} vs {} rows {}",
                a.0, a.1, b.0, b.1
            ));
        }
    }
    report.figure(
        "compared",
        format!(
            "{} tables ({} with rows), {rows} rows: count and md5 of the ordered rows",
            tables.len(),
            tables.len() - empty
        ),
    );
    report.check(
        restored_tables == tables,
        format!(
            "the copy has the same tables ({} and {})",
            tables.len(),
            restored_tables.len()
        ),
    );
    report.check(
        differ.is_empty(),
        format!(
            "every table's row count and checksum match ({} differ{})",
            differ.len(),
            differ
                .first()
                .map(|d| format!("; first: {d}"))
                .unwrap_or_default()
        ),
    );
    let sequences = |pool: PgPool| async move {
        sqlx::query_as::<_, (String, String, Option<i64>)>(
            "select schemaname::text, sequencename::text, last_value from pg_sequences order by 1, 2",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default()
    };
    let (seq_from, seq_to) = (sequences(from.clone()).await, sequences(to.clone()).await);
    report.check(
        seq_from == seq_to,
        format!(
            "every sequence goes on where it was ({} sequences)",
            seq_from.len()
        ),
    );
    from.close().await;

    // Roster starts on the copy and serves what it holds.
    let smtp = Smtp::start(ctx, report, "restore-smtp", 0)?;
    let server = Server::start(ctx, report, "restored", &target_url, &settings(&smtp)).await?;
    report.check(
        true,
        "Roster starts on the copy (/readyz 200: its migrations are all there)",
    );
    let client = http();
    // A sign-in made before the backup: its session is in the copy.
    let sessions: Vec<String> = sqlx::query_scalar(
        "select id from tower_sessions.session where expiry_date > now() order by expiry_date desc limit 20",
    )
    .fetch_all(&to)
    .await
    .unwrap_or_default();
    let mut someone = None;
    for id in &sessions {
        let cookie = format!("roster_session={id}");
        if let Ok(Some(email)) = whoami(&client, &server.base, &cookie).await {
            someone = Some((cookie, email));
            break;
        }
    }
    report.check(
        someone.is_some(),
        format!(
            "a person signed in before the backup is still signed in on the copy ({} sessions in it)",
            sessions.len()
        ),
    );
    if let Some((cookie, email)) = someone {
        let user: uuid::Uuid = sqlx::query_scalar("select id from users where email = $1")
            .bind(&email)
            .fetch_one(&to)
            .await
            .ctx("the user")?;
        let held: i64 = sqlx::query_scalar(
            "select count(*) from bookings b join occurrences o on o.id = b.occurrence_id
              where b.user_id = $1 and b.status in ('confirmed', 'waitlisted') and o.starts_at > now()",
        )
        .bind(user)
        .fetch_one(&to)
        .await
        .unwrap_or(-1);
        let listed = client
            .get(server.url("/api/v1/bookings"))
            .header("cookie", &cookie)
            .send()
            .await
            .ctx("GET /api/v1/bookings")?;
        let status = listed.status();
        let body: serde_json::Value = listed.json().await.unwrap_or_default();
        let n = body
            .as_array()
            .or_else(|| body["items"].as_array())
            .or_else(|| body["bookings"].as_array())
            .map_or(-1, |a| a.len() as i64);
        report.check(
            status == StatusCode::OK && n == held,
            format!(
                "they see their bookings on the copy ({status}: {n} listed, {held} in the table)"
            ),
        );
        // And can book: the copy takes new writes.
        let free: Option<uuid::Uuid> = sqlx::query_scalar(
            "select o.id from occurrences o
               join memberships m on m.society_id = o.society_id and m.user_id = $1 and m.status = 'approved'
              where o.starts_at > now() + interval '1 day' and o.cancelled_at is null
                and not exists (select 1 from bookings b where b.occurrence_id = o.id and b.user_id = $1)
              order by o.starts_at limit 1",
        )
        .bind(user)
        .fetch_optional(&to)
        .await
        .unwrap_or(None);
        match free {
            Some(occurrence) => {
                let r = client
                    .post(server.url("/api/v1/bookings"))
                    .header("cookie", &cookie)
                    .json(&serde_json::json!({ "occurrence_id": occurrence }))
                    .send()
                    .await
                    .ctx("POST /api/v1/bookings")?;
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                report.check(
                    status == StatusCode::CREATED,
                    format!(
                        "they can book on the copy ({status}{})",
                        if status == StatusCode::CREATED {
                            String::new()
                        } else {
                            format!(": {text}")
                        }
                    ),
                );
            }
            None => {
                report.note("(no session left that they could book; booking on the copy not tried)")
            }
        }
    }
    let page = client
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .map(|r| r.status());
    report.check(
        page.as_ref().is_ok_and(|s| *s == StatusCode::OK),
        format!("the copy serves the API ({})", label(&page)),
    );
    to.close().await;
    drop(server);
    Ok(())
}

/// A database an earlier drill left, with bookings in it.
async fn existing_source(ctx: &Ctx) -> Option<(String, String)> {
    for name in SOURCES {
        let url = ctx.cluster.url(name);
        let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url)
            .await
        else {
            continue;
        };
        let bookings: i64 = sqlx::query_scalar("select count(*) from bookings")
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
        pool.close().await;
        if bookings > 0 {
            return Some((name.to_string(), url));
        }
    }
    None
}

/// A database of its own, when no earlier drill left one: a society, members, bookings.
async fn seed_source(ctx: &Ctx, report: &mut Report) -> Res<(String, String)> {
    let name = "drill_backup";
    let url = ctx.cluster.create_database(name).await?;
    let smtp = Smtp::start(ctx, report, "backup-smtp", 0)?;
    let server = Server::start(ctx, report, "backup-source", &url, &settings(&smtp)).await?;
    let pool = pool(&url).await?;
    let club = seed_club(&pool, "backup", 5, 100).await?;
    let members = members(&pool, &club, "m", 10, std::slice::from_ref(&server.base)).await?;
    let client = http();
    for (i, m) in members.iter().enumerate() {
        let r = client
            .post(server.url("/api/v1/bookings"))
            .header("cookie", &m.cookie)
            .json(&serde_json::json!({ "occurrence_id": club.sessions[i % club.sessions.len()] }))
            .send()
            .await
            .ctx("seeding a booking")?;
        if r.status() != StatusCode::CREATED {
            return Err(format!("seeding a booking: {}", r.status()));
        }
    }
    pool.close().await;
    drop(server);
    report.note("(no earlier drill's database: seeded drill_backup)");
    Ok((name.to_string(), url))
}

struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

async fn script(command: &mut Command) -> Res<Output> {
    let mut command = std::mem::replace(command, Command::new("true"));
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .ctx("running a script")?
        .ctx("running a script")?;
    Ok(Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Every table outside PostgreSQL's own schemas, as `schema.table`.
async fn tables(pool: &PgPool) -> Res<Vec<String>> {
    tables_of(pool).await
}

async fn tables_of(pool: &PgPool) -> Res<Vec<String>> {
    sqlx::query_scalar(
        "select format('%I.%I', n.nspname, c.relname) from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
            and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
          order by 1",
    )
    .fetch_all(pool)
    .await
    .ctx("listing tables")
}

/// A table's row count and the md5 of its rows (as text) in a fixed order.
async fn fingerprint(pool: &PgPool, table: &str) -> Res<(i64, String)> {
    sqlx::query_as(&format!(
        "select count(*), coalesce(md5(string_agg(r, '\n' order by r)), '')
           from (select t::text as r from {table} t) rows"
    ))
    .fetch_one(pool)
    .await
    .ctx(&format!("fingerprint of {table}"))
}
