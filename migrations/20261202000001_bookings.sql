-- Bookings: a member's spot in a session (or their place on its waitlist), term enrolments
-- (a standing booking of a weekly series), attendance, the society's fair-use rules, strikes
-- and booking bans.
--
-- Lock order (see app/src/bookings/db): the society row, then the member's membership row,
-- then the session (`occurrences`) row, then its bookings. The counters on `occurrences` are
-- kept by a trigger that locks the session row itself, so a confirmation can never pass the
-- capacity, whatever the caller did.

alter type audit_action add value 'booking.confirmed';
alter type audit_action add value 'booking.waitlisted';
alter type audit_action add value 'booking.cancelled';
alter type audit_action add value 'booking.promoted';
alter type audit_action add value 'booking.excused';
alter type audit_action add value 'booking.added';
alter type audit_action add value 'booking.removed';
alter type audit_action add value 'booking.walk_in';
alter type audit_action add value 'attendance.marked';
alter type audit_action add value 'enrolment.created';
alter type audit_action add value 'enrolment.ended';
alter type audit_action add value 'booking_ban.started';
alter type audit_action add value 'booking_ban.lifted';
alter type audit_action add value 'booking_rules.changed';

-- A society's fair-use rules; every society has one row (the trigger below adds it).
create table booking_rules (
    society_id         uuid primary key references societies (id) on delete cascade,
    -- booking opens this many days before a session, at the same local time
    opens_days         integer not null default 14,
    -- and closes this many minutes before it starts (0: at the start)
    closes_minutes     integer not null default 0,
    -- a cancellation is free until this many hours before the start; later it is a strike
    free_cancel_hours  integer not null default 6,
    -- this many strikes within `strike_window_days` ban booking for `ban_days`
    strike_limit       integer not null default 3,
    strike_window_days integer not null default 30,
    ban_days           integer not null default 7,
    -- one-off bookings (confirmed or waitlisted) a member may hold for sessions to come, and
    -- per calendar week (Monday to Sunday, local); term enrolments do not count
    max_active         integer not null default 10,
    max_per_week       integer not null default 5,
    updated_at         timestamptz not null default now(),
    constraint booking_rules_opens_days_range check (opens_days between 1 and 365),
    constraint booking_rules_closes_minutes_range check (closes_minutes between 0 and 10080),
    constraint booking_rules_free_cancel_hours_range check (free_cancel_hours between 0 and 720),
    constraint booking_rules_strike_limit_range check (strike_limit between 1 and 50),
    constraint booking_rules_strike_window_days_range check (strike_window_days between 1 and 365),
    constraint booking_rules_ban_days_range check (ban_days between 1 and 365),
    constraint booking_rules_max_active_range check (max_active between 1 and 500),
    constraint booking_rules_max_per_week_range check (max_per_week between 1 and 100)
);
insert into booking_rules (society_id) select id from societies;

create function societies_add_booking_rules() returns trigger language plpgsql as $$
begin
    insert into booking_rules (society_id) values (new.id);
    return null;
end $$;
create trigger societies_add_booking_rules after insert on societies
    for each row execute function societies_add_booking_rules();

-- Spots taken (confirmed, walk-ins not counted) and people waiting, kept by the trigger on
-- `bookings`: the calendar reads them without counting rows.
alter table occurrences
    add column confirmed_count integer not null default 0,
    add column waitlisted_count integer not null default 0,
    add constraint occurrences_counts_positive check (confirmed_count >= 0 and waitlisted_count >= 0),
    -- lets bookings name a session of their own society only
    add constraint occurrences_society_key unique (society_id, id);

-- A member's standing booking of a weekly series: a booking in each of its sessions from
-- now on (up to `until_date`), also in sessions the horizon adds later.
create table enrolments (
    id         uuid primary key default gen_random_uuid(),
    society_id uuid not null references societies (id) on delete cascade,
    event_id   uuid not null,
    user_id    uuid not null references users (id) on delete cascade,
    until_date date,
    created_at timestamptz not null default now(),
    ended_at   timestamptz,
    constraint enrolments_event_fkey foreign key (society_id, event_id)
        references events (society_id, id) on delete cascade
);
create unique index enrolments_active_key on enrolments (event_id, user_id) where ended_at is null;
create index enrolments_user_idx on enrolments (user_id);

-- confirmed: has a spot; waitlisted: waits for one, in `queue_number` order; excused: an
-- enrolled member said they will not come to this one session; cancelled: gave the spot up
-- (or an admin removed it, or they left the society).
create type booking_status as enum ('confirmed', 'waitlisted', 'excused', 'cancelled');
-- What the trainer ticked; `absent` is a no-show (a strike).
create type attendance as enum ('present', 'late', 'absent');

-- Strictly first come, first served: a waitlisted booking takes the next number while the
-- session row is locked, so numbers rise in the order people joined; positions are ranks.
create sequence bookings_queue_number_seq;

create table bookings (
    id            uuid primary key default gen_random_uuid(),
    society_id    uuid not null references societies (id) on delete cascade,
    occurrence_id uuid not null,
    -- history stays when someone leaves the society; it goes with their account
    user_id       uuid not null references users (id) on delete cascade,
    status        booking_status not null,
    queue_number  bigint,
    -- added by a trainer at the session: not counted against the spots
    walk_in       boolean not null default false,
    enrolment_id  uuid references enrolments (id) on delete set null,
    -- who made it, when not the member themselves (an admin, a trainer)
    booked_by     uuid references users (id) on delete set null,
    created_at    timestamptz not null default now(),
    confirmed_at  timestamptz,
    cancelled_at  timestamptz,
    cancelled_by  uuid references users (id) on delete set null,
    -- given up after free cancellation ended (a strike)
    late          boolean not null default false,
    -- an admin's reason for adding or removing it
    reason        text not null default '',
    attendance    attendance,
    attendance_at timestamptz,
    attendance_by uuid references users (id) on delete set null,
    note          text not null default '',
    constraint bookings_occurrence_fkey foreign key (society_id, occurrence_id)
        references occurrences (society_id, id) on delete cascade,
    constraint bookings_queue_shape check ((status = 'waitlisted') = (queue_number is not null)),
    constraint bookings_walk_in_shape check (not walk_in or status in ('confirmed', 'cancelled')),
    constraint bookings_confirmed_shape check (status <> 'confirmed' or confirmed_at is not null),
    constraint bookings_cancelled_shape check ((status in ('cancelled', 'excused')) = (cancelled_at is not null)),
    constraint bookings_attendance_shape check (attendance is null or status = 'confirmed'),
    constraint bookings_note_length check (char_length(note) <= 500),
    constraint bookings_reason_length check (char_length(reason) <= 1000)
);
-- one active booking per member per session: a retried form cannot book twice
create unique index bookings_active_key on bookings (occurrence_id, user_id)
    where status in ('confirmed', 'waitlisted');
-- no two people share a waitlist place
create unique index bookings_queue_key on bookings (occurrence_id, queue_number)
    where status = 'waitlisted';
create index bookings_occurrence_idx on bookings (occurrence_id, status);
create index bookings_user_idx on bookings (user_id, society_id);
create index bookings_enrolment_idx on bookings (enrolment_id) where enrolment_id is not null;

-- Keeps the session's counters, refuses a confirmation when no spot is left (whatever the
-- caller checked), and tells listeners (`LISTEN occurrence_spots`) on commit.
create function bookings_count() returns trigger language plpgsql as $$
declare
    was_seat boolean := tg_op <> 'INSERT' and old.status = 'confirmed' and not old.walk_in;
    is_seat  boolean := tg_op <> 'DELETE' and new.status = 'confirmed' and not new.walk_in;
    was_wait boolean := tg_op <> 'INSERT' and old.status = 'waitlisted';
    is_wait  boolean := tg_op <> 'DELETE' and new.status = 'waitlisted';
    target   uuid := case when tg_op = 'DELETE' then old.occurrence_id else new.occurrence_id end;
    counts   record;
begin
    if tg_op = 'UPDATE' and new.occurrence_id <> old.occurrence_id then
        raise exception 'a booking stays with its session' using errcode = '23514',
            constraint = 'bookings_occurrence_fixed';
    end if;
    if is_seat = was_seat and is_wait = was_wait then
        return null;
    end if;
    update occurrences
       set confirmed_count = confirmed_count + is_seat::int - was_seat::int,
           waitlisted_count = waitlisted_count + is_wait::int - was_wait::int
     where id = target
     returning capacity, confirmed_count, waitlisted_count into counts;
    if not found then
        -- the session itself is being deleted
        return null;
    end if;
    if is_seat and not was_seat and counts.confirmed_count > counts.capacity then
        raise exception 'session % has no spot left', target using errcode = '23514',
            constraint = 'bookings_capacity';
    end if;
    perform pg_notify('occurrence_spots', json_build_object(
        'occurrence_id', target, 'capacity', counts.capacity,
        'confirmed', counts.confirmed_count, 'waitlisted', counts.waitlisted_count)::text);
    return null;
end $$;
create trigger bookings_count after insert or update of status, walk_in, occurrence_id or delete on bookings
    for each row execute function bookings_count();

-- A capacity change or a cancelled session is news for the live spot counts too.
create function occurrences_notify_spots() returns trigger language plpgsql as $$
begin
    perform pg_notify('occurrence_spots', json_build_object(
        'occurrence_id', new.id, 'capacity', new.capacity,
        'confirmed', new.confirmed_count, 'waitlisted', new.waitlisted_count)::text);
    return null;
end $$;
create trigger occurrences_notify_spots after update of capacity, status on occurrences
    for each row execute function occurrences_notify_spots();

-- A late cancellation or a no-show. One per booking at most.
create type strike_reason as enum ('late_cancellation', 'no_show');
create table strikes (
    id         uuid primary key default gen_random_uuid(),
    society_id uuid not null references societies (id) on delete cascade,
    user_id    uuid not null references users (id) on delete cascade,
    booking_id uuid not null references bookings (id) on delete cascade,
    reason     strike_reason not null,
    created_at timestamptz not null default now(),
    constraint strikes_booking_key unique (booking_id)
);
create index strikes_member_idx on strikes (society_id, user_id, created_at);

-- No booking in the society from `starts_at` to `ends_at`, unless an admin lifted it.
create table booking_bans (
    id         uuid primary key default gen_random_uuid(),
    society_id uuid not null references societies (id) on delete cascade,
    user_id    uuid not null references users (id) on delete cascade,
    starts_at  timestamptz not null,
    ends_at    timestamptz not null,
    strikes    integer not null,
    lifted_at  timestamptz,
    lifted_by  uuid references users (id) on delete set null,
    constraint booking_bans_time_order check (ends_at > starts_at)
);
create index booking_bans_member_idx on booking_bans (society_id, user_id, ends_at);
