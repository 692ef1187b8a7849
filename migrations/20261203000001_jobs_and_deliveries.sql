-- Background jobs, scheduled jobs, and the delivery of the notification outbox by email, web
-- push and in the app.

-- A job queue in Postgres. Workers claim due jobs with `for update skip locked`; a claim sets
-- `locked_until` (the visibility timeout): a job whose worker died becomes due again then.
create type job_status as enum ('queued', 'running', 'done', 'dead');
create table jobs (
    id           bigint generated always as identity primary key,
    kind         text not null,
    payload      jsonb not null default '{}'::jsonb,
    -- at most one queued job per key: enqueueing again while one waits adds nothing
    dedupe_key   text,
    status       job_status not null default 'queued',
    -- attempts started so far (a claim counts one)
    attempts     integer not null default 0,
    max_attempts integer not null default 8,
    run_at       timestamptz not null default now(),
    -- the claim of the worker running it: only that claim may finish it
    lock_token   uuid,
    locked_until timestamptz,
    locked_by    text,
    last_error   text,
    created_at   timestamptz not null default now(),
    finished_at  timestamptz,
    constraint jobs_kind_shape check (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    constraint jobs_max_attempts_range check (max_attempts between 1 and 100),
    constraint jobs_running_shape check ((status = 'running') = (lock_token is not null and locked_until is not null)),
    constraint jobs_finished_shape check ((status in ('done', 'dead')) = (finished_at is not null))
);
create unique index jobs_queued_dedupe_key on jobs (dedupe_key) where status = 'queued';
create index jobs_due_idx on jobs (run_at) where status = 'queued';
create index jobs_running_idx on jobs (locked_until) where status = 'running';
create index jobs_finished_idx on jobs (finished_at) where status in ('done', 'dead');

-- Wake the workers when a job is queued (one notification per statement, sent on commit).
create function jobs_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('roster_jobs', '');
    return null;
end $$;
create trigger jobs_notify after insert on jobs
    for each statement execute function jobs_notify();

-- Jobs that run on a cron schedule (UTC). A scheduler claims a due row with `skip locked`,
-- queues one job for that due time and moves `next_run_at` on, in one transaction: each due
-- time runs once, however many replicas schedule.
create table scheduled_jobs (
    name             text primary key,
    cron             text not null,
    next_run_at      timestamptz not null,
    -- the job queued for the last due time, and how its last finished run went
    last_job_id      bigint,
    last_started_at  timestamptz,
    last_finished_at timestamptz,
    last_duration_ms integer,
    last_ok          boolean,
    last_error       text,
    updated_at       timestamptz not null default now()
);

-- The outbox gets a dedupe key (one row per key: a reminder job that runs twice, or a retried
-- handler, adds nothing), the moment it was turned into deliveries, and its in-app state.
alter table notification_outbox
    add column dedupe_key text,
    add column dispatched_at timestamptz,
    -- shown in the recipient's notification list (their in-app preference)
    add column in_app boolean not null default false,
    add column read_at timestamptz;
create unique index notification_outbox_dedupe_key on notification_outbox (dedupe_key);
drop index notification_outbox_pending_idx;
create index notification_outbox_undispatched_idx on notification_outbox (id) where dispatched_at is null;
create index notification_outbox_inbox_idx on notification_outbox (recipient_id, id desc) where in_app;
create index notification_outbox_society_idx on notification_outbox (society_id, id desc);
-- `sent_at` said "delivered" when there was one channel; deliveries say it per channel now.
alter table notification_outbox drop column sent_at;

-- The dispatcher polls this (twice a second per replica): no NOTIFY here, which would take
-- the database-wide notify lock at the commit of every decision that writes a row.

-- What a person hears about, per topic and channel. Only choices that differ from the
-- defaults (in `notifications::Topic`) are stored.
create type notification_topic as enum (
    'requests', 'approvals', 'bookings', 'promotions', 'cancellations', 'reminders', 'strikes'
);
create type notification_channel as enum ('email', 'push', 'in_app');
create table notification_preferences (
    user_id    uuid not null references users (id) on delete cascade,
    topic      notification_topic not null,
    channel    notification_channel not null,
    enabled    boolean not null,
    updated_at timestamptz not null default now(),
    constraint notification_preferences_pkey primary key (user_id, topic, channel)
);

-- One delivery per outbox row and channel (email, push). Its job sends it; the state is what
-- society admins see. `sending` is written (committed) before the message leaves: a delivery
-- found `sending` by a later attempt is in doubt and is not sent again on its own.
create type delivery_status as enum ('queued', 'sending', 'sent', 'failed', 'dead');
create table notification_deliveries (
    id         bigint generated always as identity primary key,
    outbox_id  bigint not null references notification_outbox (id) on delete cascade,
    channel    notification_channel not null,
    status     delivery_status not null default 'queued',
    attempts   integer not null default 0,
    last_error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    sent_at    timestamptz,
    -- web push: the subscriptions it reached already (a retry sends only to the others)
    sent_to    uuid[] not null default '{}',
    constraint notification_deliveries_once unique (outbox_id, channel),
    constraint notification_deliveries_channel check (channel <> 'in_app'),
    constraint notification_deliveries_sent_shape check ((status = 'sent') = (sent_at is not null))
);
create index notification_deliveries_status_idx on notification_deliveries (status, updated_at);

-- Browsers and installed apps that accept web push (RFC 8030/8291): the endpoint and keys the
-- browser's `PushSubscription` gave.
create table push_subscriptions (
    id         uuid primary key default gen_random_uuid(),
    user_id    uuid not null references users (id) on delete cascade,
    endpoint   text not null unique,
    p256dh     text not null,
    auth       text not null,
    user_agent text not null default '',
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    constraint push_subscriptions_endpoint_shape check (endpoint like 'https://%' or endpoint like 'http://127.0.0.1:%' or endpoint like 'http://localhost:%'),
    constraint push_subscriptions_endpoint_length check (char_length(endpoint) <= 2048)
);
create index push_subscriptions_user_idx on push_subscriptions (user_id);

-- Reminders before a session, per society: hours before its start (0: none). A whole number
-- of days is the same wall-clock time that many days earlier (right across a DST change).
alter table booking_rules
    add column first_reminder_hours integer not null default 24,
    add column second_reminder_hours integer not null default 0,
    add constraint booking_rules_first_reminder_hours_range check (first_reminder_hours between 0 and 336),
    add constraint booking_rules_second_reminder_hours_range check (second_reminder_hours between 0 and 336);

-- The reminder job reads the sessions starting soon across all societies, and the ban job the
-- bans that just ended.
create index occurrences_scheduled_starts_idx on occurrences (starts_at) where status = 'scheduled';
create index booking_bans_ends_idx on booking_bans (ends_at) where lifted_at is null;

-- The VAPID key pair every replica signs web push with (RFC 8292), made at first start unless
-- ROSTER_VAPID_PRIVATE_KEY gives one: the P-256 private key, base64url.
create table push_vapid_key (
    singleton   boolean primary key default true,
    private_key text not null,
    created_at  timestamptz not null default now(),
    constraint push_vapid_key_singleton check (singleton)
);
