//! pgbench running the domain's SQL of one booking, next to the HTTP load (section 1).

use super::*;

/// The SQL of one `POST /api/v1/bookings` (from `begin` to `commit`), as
/// `app/src/bookings/db`, `app/src/audit/db.rs` and `app/src/notifications/db.rs` send it for
/// a member with a spot. Transaction `i` of client `c` books member
/// `first + t % pool` into session `t % sessions` with `t = base + i * clients + c`: no pair
/// twice, and clients running side by side book different members and sessions, like the
/// HTTP load. Differences: the first statement (`society_of`) also reads the two ids from the
/// bench tables; the week bounds the domain computes in Rust come from the locking statement;
/// the JSON the domain builds in Rust is built in SQL (without a colon in a literal: pgbench
/// would read `:MI` as a variable); a waitlist place's position query (the sessions have
/// 1,000 spots) is not there.
pub(crate) const PGBENCH_SCRIPT: &str = r#"\set i :i + 1
\set t :base + :i * :clients + :client_id
\set m :first + :t % :pool
\set k :t % :sessions
begin;
select o.society_id as society, o.id as occ, m.user_id as uid
  from bench_sessions s join occurrences o on o.id = s.id cross join bench_members m
 where s.k = :k and m.n = :m \gset
select status from memberships where society_id = :society and user_id = :uid for no key update;
select m.status, s.time_zone,
       (select max(b.ends_at) from booking_bans b
         where b.society_id = :society and b.user_id = :uid and b.lifted_at is null
           and b.starts_at <= now() and b.ends_at > now()) as ban_ends,
       (select max(b.strikes) from booking_bans b
         where b.society_id = :society and b.user_id = :uid and b.lifted_at is null
           and b.starts_at <= now() and b.ends_at > now()) as ban_strikes
  from memberships m join societies s on s.id = m.society_id
 where m.society_id = :society and m.user_id = :uid;
select r.opens_days, r.closes_minutes, r.free_cancel_hours, r.strike_limit,
       r.strike_window_days, r.ban_days, r.max_active, r.max_per_week, s.time_zone
  from booking_rules r join societies s on s.id = r.society_id
 where r.society_id = :society;
select r.opens_days, r.closes_minutes, r.free_cancel_hours, r.strike_limit,
       r.strike_window_days, r.ban_days, r.max_active, r.max_per_week, s.time_zone
  from booking_rules r join societies s on s.id = r.society_id
 where r.society_id = :society;
select e.title, o.starts_at, o.capacity, o.confirmed_count, o.status = 'cancelled' as cancelled,
       o.confirmed_count < o.capacity as has_spot,
       date_trunc('week', o.starts_at at time zone 'Europe/Berlin') at time zone 'Europe/Berlin' as week_start,
       (date_trunc('week', o.starts_at at time zone 'Europe/Berlin') + interval '7 days') at time zone 'Europe/Berlin' as week_end
  from occurrences o join events e on e.id = o.event_id
 where o.id = :occ and o.society_id = :society
   for no key update of o \gset
select id, status, queue_number from bookings
 where occurrence_id = :occ and user_id = :uid and status in ('confirmed', 'waitlisted');
select count(*) filter (where o.starts_at > now()) as active,
       count(*) filter (where o.starts_at >= :week_start and o.starts_at < :week_end) as week
  from bookings b join occurrences o on o.id = b.occurrence_id
 where b.user_id = :uid and b.society_id = :society and b.status in ('confirmed', 'waitlisted')
   and b.enrolment_id is null and not b.walk_in and o.status = 'scheduled'
   and (o.starts_at > now() or (o.starts_at >= :week_start and o.starts_at < :week_end));
insert into bookings (society_id, occurrence_id, user_id, status, queue_number,
                      confirmed_at, booked_by, enrolment_id, walk_in, reason, created_at,
                      attendance, attendance_at, attendance_by)
values (:society, :occ, :uid,
        (case when :has_spot::boolean then 'confirmed' else 'waitlisted' end)::booking_status,
        case when not :has_spot::boolean then nextval('bookings_queue_number_seq') end,
        case when :has_spot::boolean then now() end, null, null, false, '', now(),
        null, null, null)
returning id as booking_id, queue_number \gset
insert into audit_log (society_id, actor_id, action, subject_id, details)
values (:society, :uid,
        (case when :has_spot::boolean then 'booking.confirmed' else 'booking.waitlisted' end)::audit_action,
        :uid,
        jsonb_build_object('occurrence_id', :occ::uuid, 'title', :title::text,
                           'starts', left((:starts_at::timestamptz at time zone 'Europe/Berlin')::text, 16),
                           'booking_id', :booking_id::uuid, 'waitlist_position', null));
insert into notification_outbox (society_id, recipient_id, kind, payload)
values (:society, :uid,
        case when :has_spot::boolean then 'booking.confirmed' else 'booking.waitlisted' end,
        jsonb_build_object('occurrence_id', :occ::uuid, 'title', :title::text,
                           'starts', left((:starts_at::timestamptz at time zone 'Europe/Berlin')::text, 16),
                           'booking_id', :booking_id::uuid, 'waitlist_position', null));
commit;
"#;

/// What one pgbench run reported.
pub(crate) struct Pgbench {
    pub(crate) tps: f64,
    pub(crate) transactions: usize,
    /// Sorted latencies from the per-transaction log.
    pub(crate) latencies: Vec<Duration>,
}

/// Runs the booking script for `PGBENCH_SECONDS` from `clients` connections, starting its
/// pairs at `base`; the per-transaction logs go to `logs`.
pub(crate) fn pgbench(
    url: &str,
    script: &Path,
    logs: &Path,
    clients: usize,
    base: usize,
) -> Pgbench {
    let bin = std::env::var("PGBENCH").unwrap_or_else(|_| "pgbench".into());
    let prefix = format!("c{clients}");
    let output = std::process::Command::new(&bin)
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &clients.to_string()])
        .args(["-T", &PGBENCH_SECONDS.to_string()])
        .args(["-D", "i=0", "-D", &format!("base={base}")])
        .args(["-D", &format!("clients={clients}")])
        .args(["-D", &format!("first={SIGNED_IN}")])
        .args(["-D", &format!("pool={PGBENCH_MEMBERS}")])
        .args(["-D", &format!("sessions={LOAD_SESSIONS}")])
        .arg("-f")
        .arg(script)
        .arg("-l")
        .arg(format!("--log-prefix={}", logs.join(&prefix).display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| abort(&format!("cannot run {bin}: {e} (set PGBENCH)")));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        abort(&format!(
            "pgbench -c {clients} failed ({}):\n{stdout}\n{stderr}",
            output.status
        ));
    }
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| abort(&format!("pgbench printed no '{name}':\n{stdout}")))
            .to_string()
    };
    let tps: f64 = field("tps = ").parse().unwrap();
    let transactions: usize = field("number of transactions actually processed: ")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let failed = field("number of failed transactions: ");
    if failed != "0" {
        abort(&format!(
            "pgbench -c {clients}: {failed} failed transactions"
        ));
    }
    let mut latencies = Vec::with_capacity(transactions);
    let mut most_per_client = 0;
    for entry in std::fs::read_dir(logs).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with(&format!("{prefix}.")) {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            most_per_client = most_per_client.max(fields[1].parse::<usize>().unwrap() + 1);
            latencies.push(Duration::from_micros(fields[2].parse().unwrap()));
        }
        std::fs::remove_file(&path).unwrap();
    }
    if latencies.len() != transactions {
        abort(&format!(
            "pgbench -c {clients}: {} logged transactions, {transactions} reported",
            latencies.len()
        ));
    }
    if base + (most_per_client + 1) * clients > (base / PAIR_SPACE_HALF + 1) * PAIR_SPACE_HALF {
        abort(&format!(
            "pgbench -c {clients} ran out of its unused (member, session) pairs"
        ));
    }
    latencies.sort();
    Pgbench {
        tps,
        transactions,
        latencies,
    }
}

/// pgbench's pairs are unique below `PGBENCH_MEMBERS * LOAD_SESSIONS` (coprime); each of the
/// two runs gets half.
pub(crate) const PAIR_SPACE_HALF: usize = PGBENCH_MEMBERS * LOAD_SESSIONS / 2;
