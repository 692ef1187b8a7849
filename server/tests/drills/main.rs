//! Failure drills: each starts real `roster` processes (the binary cargo built for this test
//! run) on a private PostgreSQL cluster, breaks something the way production breaks, and
//! prints what happened: figures, and the properties it checks. The run fails when any
//! property fails.
//!
//!     cargo test -p server --test drills [NAME…]
//!
//! Needs the PostgreSQL server binaries (`/usr/lib/postgresql/*/bin`), Python with aiosmtpd and
//! end2end's npm packages (for the local mail server and identity provider): `bash .ci/test`
//! installs them all. `DATABASE_URL`'s server is not used: the drill that restarts PostgreSQL
//! must own its server, so every drill runs on a cluster of its own, removed at the end.

mod backup;
mod idp;
mod kill;
mod load;
mod pg_restart;
mod rush;
mod sigterm;
mod stream;
mod support;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{tail, Cluster, Ctx, Report, Res};

/// Every drill: its name (for filters) and what it does.
const DRILLS: [(&str, &str); 6] = [
    (
        "postgres_restart",
        "Postgres restarted mid-load (3 servers booking and serving pages)",
    ),
    (
        "server_killed",
        "a server killed (SIGKILL) mid-load and mid-delivery",
    ),
    ("rolling_update", "SIGTERM (a rolling update)"),
    ("identity_provider_down", "the identity provider down"),
    (
        "rush",
        "a rush: 3,000 requests for one 10-spot session within a second over 3 servers (default settings)",
    ),
    (
        "backup_restore",
        "backup (deploy/backup) and restore (deploy/restore) into a fresh database",
    ),
];

async fn run_one(name: &str, ctx: &Ctx, report: &mut Report) -> Res<()> {
    match name {
        "postgres_restart" => pg_restart::run(ctx, report).await,
        "server_killed" => kill::run(ctx, report).await,
        "rolling_update" => sigterm::run(ctx, report).await,
        "identity_provider_down" => idp::run(ctx, report).await,
        "rush" => rush::run(ctx, report).await,
        "backup_restore" => backup::run(ctx, report).await,
        other => Err(format!("no drill {other}")),
    }
}

/// The drills the command line asks for (libtest's filters: names, `--exact`, `--skip`).
fn selected(args: &[String]) -> Vec<(&'static str, &'static str)> {
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut exact = false;
    let mut ignored_only = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        match arg {
            "--exact" => exact = true,
            "--ignored" => ignored_only = true,
            "--skip" => {
                if let Some(s) = args.get(i + 1) {
                    skips.push(s.clone());
                }
                i += 1;
            }
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" | "--shuffle-seed" => {
                i += 1
            }
            _ if arg.starts_with('-') => {}
            _ => filters.push(arg.to_string()),
        }
        i += 1;
    }
    if ignored_only {
        return Vec::new();
    }
    let matches = |name: &str, f: &str| if exact { name == f } else { name.contains(f) };
    DRILLS
        .into_iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| matches(name, f)))
        .filter(|(name, _)| !skips.iter().any(|s| matches(name, s)))
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            for (name, _) in DRILLS {
                println!("{name}: test");
            }
        }
        return ExitCode::SUCCESS;
    }
    let drills = selected(&args);
    if drills.is_empty() {
        println!("\nrunning 0 drills\n");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("drills: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(drills))
}

async fn run(drills: Vec<(&'static str, &'static str)>) -> ExitCode {
    let started = Instant::now();
    let work = std::env::temp_dir().join(format!("roster-drills-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("drills: cannot create {}: {e}", work.display());
        return ExitCode::FAILURE;
    }
    let roster = std::path::PathBuf::from(env!("CARGO_BIN_EXE_roster"));
    let build = if roster.components().any(|c| c.as_os_str() == "release") {
        "release"
    } else {
        "debug"
    };
    println!(
        "\nrunning {} failure drills against {} ({build} build), work folder {}",
        drills.len(),
        roster.display(),
        work.display()
    );
    let cluster = {
        let work = work.clone();
        let started = tokio::task::spawn_blocking(move || Cluster::start(&work)).await;
        match started.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(cluster) => Arc::new(cluster),
            Err(e) => {
                eprintln!("drills: cannot start a private PostgreSQL cluster: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    println!(
        "private PostgreSQL ({}) on 127.0.0.1:{}; {} cores",
        cluster.bin.display(),
        cluster.port,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let ctx = Ctx {
        work: work.clone(),
        cluster: cluster.clone(),
        roster,
    };
    let mut summary = Vec::new();
    for (n, &(name, title)) in drills.iter().enumerate() {
        println!("\n== drill {}/{}: {title} [{name}]", n + 1, drills.len());
        let report = Report::default();
        let logs = report.logs.clone();
        let drill_started = Instant::now();
        let task = {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let mut report = report;
                let result = run_one(name, &ctx, &mut report).await;
                (report, result)
            })
        };
        let (failures, checks) = match task.await {
            Ok((report, Ok(()))) => (report.failures().to_vec(), report.checks()),
            Ok((report, Err(e))) => {
                println!("   FAIL  the drill could not go on: {e}");
                let mut failures = report.failures().to_vec();
                failures.push(e);
                (failures, report.checks())
            }
            Err(e) => {
                let why = match e.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "a panic".into()),
                    Err(e) => e.to_string(),
                };
                println!("   FAIL  the drill panicked: {why}");
                (vec![format!("panicked: {why}")], 0)
            }
        };
        let took = drill_started.elapsed();
        if failures.is_empty() {
            println!(
                "-- {name}: PASS ({checks} checks, {:.1} s)",
                took.as_secs_f64()
            );
        } else {
            println!(
                "-- {name}: FAIL ({} of {checks} checks failed, {:.1} s); the end of each log:",
                failures.len(),
                took.as_secs_f64()
            );
            let logs = logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for (who, path) in logs {
                println!("   --- {who} ({})", path.display());
                for line in tail(&path, 15).lines() {
                    println!("   | {line}");
                }
            }
        }
        summary.push((name, failures, took));
    }
    // The last references: the cluster stops.
    drop(ctx);
    drop(cluster);
    let failed: Vec<_> = summary.iter().filter(|(_, f, _)| !f.is_empty()).collect();
    println!(
        "\ndrill summary ({:.0} s in all):",
        started.elapsed().as_secs_f64()
    );
    for (name, failures, took) in &summary {
        println!(
            "  {:<24} {} ({:.1} s)",
            name,
            if failures.is_empty() { "PASS" } else { "FAIL" },
            took.as_secs_f64()
        );
        for failure in failures {
            println!("      - {failure}");
        }
    }
    if failed.is_empty() {
        if std::env::var_os("ROSTER_DRILLS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&work);
        }
        println!();
        ExitCode::SUCCESS
    } else {
        println!(
            "\n{} of {} drills failed; logs kept in {}\n",
            failed.len(),
            summary.len(),
            work.display()
        );
        // Give the terminal the output before the exit code.
        tokio::time::sleep(Duration::from_millis(10)).await;
        ExitCode::FAILURE
    }
}
