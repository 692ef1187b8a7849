//! What the drills share: a private PostgreSQL cluster, `roster` server processes, the local
//! identity provider and mail server, signing people in, seeding a society, and reporting.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::access::{lock_as_admin, require_platform_admin};
use app::events::{EventDetails, NewEvent};
use app::ids::SocietyId;
use chrono::{NaiveDate, NaiveTime};
use reqwest::StatusCode;
use sqlx::PgPool;

pub type Res<T> = Result<T, String>;

/// Turns any error into the drill's message, with what was being done.
pub trait Context<T> {
    fn ctx(self, what: &str) -> Res<T>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Res<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

impl<T> Context<T> for Option<T> {
    fn ctx(self, what: &str) -> Res<T> {
        self.ok_or_else(|| what.to_string())
    }
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ has a parent")
        .to_path_buf()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Seconds, for reports.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The `p`-th percentile (0..=1) of `values` in milliseconds.
pub fn percentile_ms(values: &[Duration], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// "201 ×12, 503 ×3" from counts by label.
pub fn counts(map: &BTreeMap<String, usize>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("({}: {e})", path.display()),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The warnings and errors in a server's log, counted by target and message (the request's
/// fields left out, so that one complaint counts once), most frequent first.
pub fn log_summary(path: &Path) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for key in text.lines().filter_map(log_key) {
        *seen.entry(key).or_insert(0) += 1;
    }
    let mut all: Vec<_> = seen.into_iter().collect();
    all.sort_by_key(|a| std::cmp::Reverse(a.1));
    all.truncate(8);
    all
}

/// `LEVEL target: message` of a warning or error line
/// (`<time> LEVEL span:span: target::path: message fields… request_id=…`).
fn log_key(line: &str) -> Option<String> {
    let level = ["ERROR", "WARN"]
        .into_iter()
        .find(|l| line.contains(&format!(" {l} ")))?;
    let rest = line.split_once(&format!(" {level} "))?.1;
    let mut from = 0;
    while let Some(at) = rest[from..].find(": ") {
        let target = &rest[from..from + at];
        let is_path = target.contains("::")
            && target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if is_path {
            let message = without_fields(&rest[from + at + 2..]);
            return Some(
                format!("{level} {target}: {message}")
                    .chars()
                    .take(170)
                    .collect(),
            );
        }
        from += at + 2;
    }
    Some(format!("{level} {rest}").chars().take(170).collect())
}

/// A log message without its `key=value` fields, but for `error=…`.
fn without_fields(message: &str) -> String {
    let is_field = |word: &str| {
        word.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        })
    };
    let mut text = Vec::new();
    let mut error = Vec::new();
    // Which field the words belong to now: none yet, `error`, or another.
    let mut field: Option<bool> = None;
    for word in message.split(' ') {
        if is_field(word) {
            let is_error = word.starts_with("error=");
            field = Some(is_error);
            if is_error {
                error.push(word);
            }
        } else {
            match field {
                None => text.push(word),
                Some(true) => error.push(word),
                Some(false) => {}
            }
        }
    }
    let mut out = text.join(" ");
    if !error.is_empty() {
        out.push(' ');
        out.push_str(&error.join(" "));
    }
    out
}

// --- Reporting ------------------------------------------------------------------------------

/// One drill's report: figures and checks, printed as they come; a failed check fails the
/// drill (the drill goes on, to show the rest of what happened).
#[derive(Default)]
pub struct Report {
    failures: Vec<String>,
    checks: usize,
    /// Logs of the processes this drill started, shown when it fails.
    pub logs: Arc<Mutex<Vec<(String, PathBuf)>>>,
}

impl Report {
    /// A figure: `label: value`.
    pub fn figure(&self, label: &str, value: impl std::fmt::Display) {
        println!("   {label:<28} {value}");
    }

    /// A line of its own.
    pub fn note(&self, text: impl std::fmt::Display) {
        println!("   {text}");
    }

    /// A property: passes or fails the drill.
    pub fn check(&mut self, ok: bool, what: impl std::fmt::Display) -> bool {
        self.checks += 1;
        if ok {
            println!("   ok    {what}");
        } else {
            println!("   FAIL  {what}");
            self.failures.push(what.to_string());
        }
        ok
    }

    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    pub fn checks(&self) -> usize {
        self.checks
    }

    pub fn log(&self, name: &str, path: &Path) {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), path.to_path_buf()));
    }
}

// --- PostgreSQL --------------------------------------------------------------------------------

/// A private PostgreSQL cluster in a temporary folder, on a port of its own; stopped and
/// removed when dropped.
pub struct Cluster {
    pub bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The newest PostgreSQL server binaries on this machine.
pub fn pg_bindir() -> Res<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output();
    if let Ok(out) = out {
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if bin.join("initdb").exists() {
            return Ok(bin);
        }
    }
    Err("no PostgreSQL server binaries (initdb) in /usr/lib/postgresql/*/bin or pg_config --bindir: apt-get install postgresql".into())
}

impl Cluster {
    pub fn start(work: &Path) -> Res<Self> {
        let bin = pg_bindir()?;
        let dir = work.join("pg");
        std::fs::create_dir_all(&dir).ctx("creating the cluster folder")?;
        let as_postgres = is_root();
        if as_postgres {
            let known = Command::new("id")
                .arg("postgres")
                .output()
                .is_ok_and(|o| o.status.success());
            if !known {
                run(Command::new("useradd").args(["--system", "--no-create-home", "postgres"]))?;
            }
            run(Command::new("chown").arg("-R").arg("postgres").arg(work))?;
            // The postgres user must reach the folder.
            let mut d = dir.clone();
            while let Some(parent) = d.parent() {
                let _ = Command::new("chmod").arg("o+x").arg(parent).status();
                d = parent.to_path_buf();
            }
        }
        let cluster = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.dir.join("data");
        cluster.pg(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
            ],
        )?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn pg(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Res<()> {
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        command.args(args);
        run(&mut command)
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start_server(&self) -> Res<()> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=400",
            self.port,
            self.dir.display()
        );
        let data = self.dir.join("data");
        let log = self.dir.join("postgres.log");
        self.pg(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        )
    }

    /// `pg_ctl stop -m fast`: connections are closed, the server is down when it returns.
    pub fn stop_server(&self) -> Res<()> {
        let data = self.dir.join("data");
        self.pg(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// A new, empty database.
    pub async fn create_database(&self, name: &str) -> Res<String> {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .ctx("connecting to the private cluster")?;
        sqlx::query(&format!("drop database if exists {name} with (force)"))
            .execute(&mut admin)
            .await
            .ctx("dropping an old drill database")?;
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .ctx("creating the drill database")?;
        Ok(self.url(name))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.pg(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}

fn run(command: &mut Command) -> Res<()> {
    let out = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A pool on a drill database, for seeding and for looking at what the servers wrote.
pub async fn pool(url: &str) -> Res<PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .ctx("connecting to the drill database")
}

// --- roster server processes -------------------------------------------------------------------

/// What a drill shares: where to work, the cluster, the binary under test.
#[derive(Clone)]
pub struct Ctx {
    pub work: PathBuf,
    pub cluster: Arc<Cluster>,
    pub roster: PathBuf,
}

/// A `roster` process (the binary under test) on a port of its own; killed when dropped.
pub struct Server {
    pub name: String,
    pub base: String,
    pub pid: u32,
    pub log: PathBuf,
    child: Option<Child>,
    exit: Option<ExitStatus>,
}

impl Server {
    /// Starts `roster` on `database` with `extra` settings and waits until `/readyz` is 200.
    pub async fn start(
        ctx: &Ctx,
        report: &Report,
        name: &str,
        database: &str,
        extra: &[(&str, String)],
    ) -> Res<Self> {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = ctx.work.join(format!("{name}.log"));
        let file = File::create(&log).ctx("creating a server log")?;
        let mut command = Command::new(&ctx.roster);
        command
            .env_clear()
            .current_dir(&ctx.work)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_else(|_| "/".into()))
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env("LEPTOS_OUTPUT_NAME", "roster")
            .env("LEPTOS_SITE_ROOT", root().join("target/site"))
            .env("HOSTNAME", format!("drill-{name}"))
            .env("DATABASE_URL", database)
            .env("ROSTER_PUBLIC_URL", &base)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("ROSTER_MAIL_DIR", ctx.work.join(format!("{name}-mail")));
        for (key, value) in extra {
            command.env(key, value);
        }
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().ctx("log file")?)
            .stderr(file);
        let child = command.spawn().ctx("starting roster")?;
        report.log(name, &log);
        let mut server = Self {
            name: name.to_string(),
            base,
            pid: child.id(),
            log,
            child: Some(child),
            exit: None,
        };
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    /// The worker name its job claims carry (`jobs.locked_by`).
    pub fn worker(&self) -> String {
        format!("drill-{}:{}", self.name, self.pid)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn wait_ready(&mut self, limit: Duration) -> Res<()> {
        let client = http();
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    tail(&self.log, 30)
                ));
            }
            if let Ok(r) = client.get(self.url("/readyz")).send().await {
                if r.status() == StatusCode::OK {
                    return Ok(());
                }
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "{} not ready after {}:\n{}",
                    self.name,
                    secs(limit),
                    tail(&self.log, 30)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The exit status, once the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.exit = Some(status);
                }
            }
        }
        self.exit
    }

    /// SIGKILL: gone at once, mid-whatever.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            if let Ok(status) = child.wait() {
                self.exit = Some(status);
            }
        }
    }

    /// Sends a signal (`TERM`, `STOP`, …).
    pub fn signal(&self, signal: &str) -> Res<()> {
        signal_pid(self.pid, signal)
    }

    /// Waits up to `limit` for the process to end.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.exited()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.kill();
        }
    }
}

pub fn signal_pid(pid: u32, signal: &str) -> Res<()> {
    run(Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string()))
}

/// Settings the drills use unless they say otherwise: mail by SMTP to `smtp`, email sign-in,
/// and no per-address rate limits (the drills send everything from one address).
pub fn settings(smtp: &Smtp) -> Vec<(&'static str, String)> {
    vec![
        ("ROSTER_SMTP_URL", smtp.url()),
        ("ROSTER_MAIL_FROM", "Roster <roster@drill.example>".into()),
        ("ROSTER_EMAIL_LOGIN", "on".into()),
        ("ROSTER_REQUEST_DIGEST_MINUTES", "0".into()),
        ("ROSTER_RATE_API_PER_ADDRESS", "0".into()),
        ("ROSTER_RATE_API_PER_PERSON", "0".into()),
        ("ROSTER_RATE_WRITES_PER_PERSON", "0".into()),
    ]
}

pub fn with(
    mut base: Vec<(&'static str, String)>,
    more: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    for (key, value) in more {
        base.retain(|(k, _)| k != key);
        base.push((key, value.to_string()));
    }
    base
}

// --- the local mail server and identity provider ---------------------------------------------

/// `end2end/support/smtp_capture.py` on a port of its own, storing into its own folder.
pub struct Smtp {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Smtp {
    pub fn start(ctx: &Ctx, report: &Report, name: &str, delay_ms: u64) -> Res<Self> {
        let dir = ctx.work.join(format!("{name}-captured"));
        let log = ctx.work.join(format!("{name}.log"));
        let script = root().join("end2end/support/smtp_capture.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--port", "0", "--delay-ms", &delay_ms.to_string(), "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(File::create(&log).ctx("smtp log")?)
            .spawn()
            .ctx("python3 runs the SMTP capture server")?;
        report.log(name, &log);
        let line = first_line(&mut child);
        let Some(port) = line
            .trim()
            .strip_prefix("smtp-capture ready 127.0.0.1:")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the SMTP capture server did not start ({line:?}); is aiosmtpd installed (bash .ci/test installs it)?\n{}",
                tail(&log, 20)
            ));
        };
        Ok(Self {
            port,
            dir,
            child: Some(child),
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The Message-ID of every captured message (stored ones only).
    pub fn message_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return ids;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let Ok(raw) = std::fs::read_to_string(&path) else {
                continue;
            };
            let headers = raw.split("\r\n\r\n").next().unwrap_or("");
            if let Some(id) = headers.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("message-id")
                    .then(|| value.trim().to_string())
            }) {
                ids.push(id);
            }
        }
        ids
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    line
}

pub const CLIENT_ID: &str = "roster";
pub const CLIENT_SECRET: &str = "roster-test-secret";

/// `end2end/support/oidc-provider.mjs`, a Keycloak-shaped provider (users from
/// `end2end/support/users.json`, keys made at each start).
pub struct Provider {
    pub port: u16,
    pub realm: String,
    pub pid: u32,
    child: Option<Child>,
}

impl Provider {
    /// Starts it on `port` (0: any).
    pub fn start(ctx: &Ctx, report: &Report, realm: &str, port: u16) -> Res<Self> {
        let script = root().join("end2end/support/oidc-provider.mjs");
        let log = ctx.work.join(format!("oidc-{realm}-{port}.log"));
        let mut child = Command::new("node")
            .arg(&script)
            .args(["--port", &port.to_string(), "--realm", realm])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .stdout(Stdio::piped())
            .stderr(File::create(&log).ctx("provider log")?)
            .spawn()
            .ctx("node runs the OIDC provider")?;
        report.log("oidc-provider", &log);
        let line = first_line(&mut child);
        let port = line
            .trim()
            .strip_prefix("oidc-provider ready http://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the OIDC provider did not start ({line:?}); are end2end's npm packages installed (bash .ci/test installs them)?\n{}",
                tail(&log, 20)
            ));
        };
        Ok(Self {
            port,
            realm: realm.to_string(),
            pid: child.id(),
            child: Some(child),
        })
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}/realms/{}", self.port, self.realm)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // A stopped provider must be woken to die cleanly.
        let _ = signal_pid(self.pid, "CONT");
        self.kill();
    }
}

// --- HTTP ------------------------------------------------------------------------------------

/// A client that never follows redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// What a request came to: a status, or the client's error.
pub fn label(result: &Result<StatusCode, reqwest::Error>) -> String {
    match result {
        Ok(status) => status.as_u16().to_string(),
        Err(e) => error_kind(e),
    }
}

/// A short name for a client error ("connection refused", "timeout", …).
pub fn error_kind(e: &reqwest::Error) -> String {
    let chain = error_chain(e);
    if e.is_timeout() {
        "timeout".into()
    } else if chain.contains("Connection refused") {
        "connection refused".into()
    } else if chain.contains("reset") {
        "connection reset".into()
    } else if chain.contains("closed") || chain.contains("IncompleteMessage") {
        "connection closed before the answer".into()
    } else if e.is_connect() {
        "connect error".into()
    } else {
        format!("error: {chain}")
    }
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The value of `Retry-After` in seconds, when present and readable.
pub fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A signed-in person: their account and browser session cookie (`roster_session=…`).
#[derive(Clone, Debug)]
pub struct Member {
    pub email: String,
    pub id: uuid::Uuid,
    pub cookie: String,
}

/// Signs `email` in on `server` with an emailed-link token made through the domain (`client`
/// names who asked: each client gets 20 links an hour). Returns the session cookie.
pub async fn sign_in_email(pool: &PgPool, base: &str, email: &str, client: &str) -> Res<String> {
    let mut conn = pool.acquire().await.ctx("a connection")?;
    let token = app::auth::db::create_email_token(&mut conn, email, client)
        .await
        .map_err(|e| format!("create_email_token: {e}"))?
        .ctx("no new sign-in link (too many working ones)")?;
    drop(conn);
    let response = http()
        .post(format!("{base}/auth/email"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("token", token)])
        .send()
        .await
        .ctx("POST /auth/email")?;
    if response.status() != StatusCode::SEE_OTHER {
        return Err(format!(
            "POST /auth/email answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        ));
    }
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("roster_session="))
        .ctx("no roster_session cookie after signing in")?;
    Ok(cookie.split(';').next().unwrap_or_default().to_string())
}

/// The signed-in person's email as `server` sees `cookie` (`None`: a visitor).
pub async fn whoami(client: &reqwest::Client, base: &str, cookie: &str) -> Res<Option<String>> {
    let response = client
        .post(format!("{base}/api/current_user"))
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| error_kind(&e))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status != StatusCode::OK {
        return Err(format!("current_user answered {status}: {text}"));
    }
    let value: serde_json::Value = serde_json::from_str(&text).ctx("current_user's JSON")?;
    Ok(value["email"].as_str().map(str::to_string))
}

// --- seeding ----------------------------------------------------------------------------------

/// A society with one-off sessions, its founder (an admin) and approved members.
pub struct Club {
    pub society: SocietyId,
    pub slug: String,
    pub founder: String,
    pub sessions: Vec<uuid::Uuid>,
}

/// The society `slug` (Europe/Berlin) founded through the domain, with booking rules that let
/// a member hold many bookings, and `sessions` one-off sessions of `capacity` spots, two to
/// nine days ahead (inside the booking window).
pub async fn seed_club(pool: &PgPool, slug: &str, sessions: usize, capacity: i32) -> Res<Club> {
    let mut tx = pool.begin().await.ctx("begin")?;
    let founder_email = format!("founder@{slug}.drill.example");
    let founder = app::auth::db::upsert_email_user(&mut tx, &founder_email, true)
        .await
        .map_err(|e| format!("founder: {e}"))?;
    let creator = require_platform_admin(&founder).map_err(|e| format!("creator: {e}"))?;
    let society = app::societies::db::create(
        &mut tx,
        &creator,
        app::societies::NewSociety {
            name: format!("Drill club {slug}"),
            slug: slug.into(),
            time_zone: "Europe/Berlin".into(),
        },
    )
    .await
    .map_err(|e| format!("society: {e}"))?
    .id;
    sqlx::query(
        "insert into booking_rules (society_id, max_active, max_per_week, opens_days)
         values ($1, 500, 100, 30)
         on conflict (society_id) do update
            set max_active = 500, max_per_week = 100, opens_days = 30",
    )
    .bind(society)
    .execute(&mut *tx)
    .await
    .ctx("booking rules")?;
    let admin = lock_as_admin(&mut tx, society, founder.id)
        .await
        .map_err(|e| format!("admin: {e}"))?;
    let today = chrono::Utc::now().date_naive();
    let mut ids = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let day = today + chrono::Duration::days(2 + (i % 8) as i64);
        let start = NaiveTime::from_hms_opt(7, 0, 0).unwrap_or_default()
            + chrono::Duration::minutes(45 * (i / 8) as i64);
        ids.push(
            one_off(
                &mut tx,
                &admin,
                &format!("Session {i}"),
                capacity,
                day,
                start,
            )
            .await?,
        );
    }
    tx.commit().await.ctx("commit")?;
    Ok(Club {
        society,
        slug: slug.into(),
        founder: founder_email,
        sessions: ids,
    })
}

pub async fn one_off(
    conn: &mut sqlx::PgConnection,
    admin: &app::access::SocietyAdmin,
    title: &str,
    capacity: i32,
    day: NaiveDate,
    start: NaiveTime,
) -> Res<uuid::Uuid> {
    let created = app::events::db::create(
        conn,
        admin,
        NewEvent {
            details: EventDetails {
                title: title.into(),
                description: String::new(),
                location: "Hall".into(),
                capacity,
                duration_minutes: 30,
                category: None,
                trainers: vec![],
            },
            start_date: day,
            start_time: start,
            weekly: None,
        },
    )
    .await
    .map_err(|e| format!("event {title}: {e}"))?;
    created
        .occurrence_ids
        .first()
        .map(|o| o.0)
        .ctx("the event has no session")
}

/// `n` approved members of `club` (`<prefix>-<i>@<slug>.drill.example`), signed in through the
/// servers `bases` in turn, 16 at a time.
pub async fn members(
    pool: &PgPool,
    club: &Club,
    prefix: &str,
    n: usize,
    bases: &[String],
) -> Res<Vec<Member>> {
    let mut ids = Vec::with_capacity(n);
    {
        let mut tx = pool.begin().await.ctx("begin")?;
        for i in 0..n {
            let email = format!("{prefix}-{i}@{}.drill.example", club.slug);
            let user = app::auth::db::upsert_email_user(&mut tx, &email, false)
                .await
                .map_err(|e| format!("member: {e}"))?;
            ids.push((email, user.id.0));
        }
        sqlx::query(
            "insert into memberships (society_id, user_id, role, status)
             select $1, id, 'member', 'approved' from unnest($2::uuid[]) as t(id)",
        )
        .bind(club.society)
        .bind(ids.iter().map(|(_, id)| *id).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .ctx("memberships")?;
        tx.commit().await.ctx("commit")?;
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::with_capacity(n);
    for (i, (email, id)) in ids.into_iter().enumerate() {
        let (pool, gate) = (pool.clone(), gate.clone());
        let base = bases[i % bases.len()].clone();
        let client = format!("drill-{prefix}-{i}");
        tasks.push(tokio::spawn(async move {
            let _turn = gate.acquire().await;
            let cookie = sign_in_email(&pool, &base, &email, &client).await?;
            Ok::<_, String>(Member { email, id, cookie })
        }));
    }
    let mut all = Vec::with_capacity(n);
    for task in tasks {
        all.push(task.await.ctx("sign-in task")??);
    }
    Ok(all)
}

/// Polls `probe` every 100 ms until it is true, for at most `limit`; returns how long it took.
pub async fn wait_until<F, Fut>(limit: Duration, mut probe: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if probe().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// CPU time a process has used so far, in clock ticks (`/proc/<pid>/stat`: user + system).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After `pid (comm) `: field 3 is the state; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

/// The machine's busy and total CPU time so far, in clock ticks (`/proc/stat`).
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle and iowait
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Clock ticks per second.
pub fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
