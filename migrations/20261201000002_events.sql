-- Events: what an admin sets up (one session, or a weekly series), the sessions it has
-- (`occurrences`: one row each, so bookings and attendance attach to a stable id), the
-- society's categories, trainers per event and per session, and calendar feed addresses.

-- `exclude using gist (trainer_id with =, ...)` needs equality on uuids in a GiST index.
create extension if not exists btree_gist;

alter type audit_action add value 'event.created';
alter type audit_action add value 'event.changed';
alter type audit_action add value 'event.series_ended';
alter type audit_action add value 'event.deleted';
alter type audit_action add value 'occurrence.changed';
alter type audit_action add value 'occurrence.cancelled';
alter type audit_action add value 'category.created';
alter type audit_action add value 'category.deleted';

-- Whether visitors see the society's calendar (and its feed); members always do.
alter table societies add column calendar_public boolean not null default false;

create table event_categories (
    id         uuid primary key default gen_random_uuid(),
    society_id uuid not null references societies (id) on delete cascade,
    name       text not null,
    created_at timestamptz not null default now(),
    -- lets events name a category of their own society only
    constraint event_categories_society_key unique (society_id, id),
    constraint event_categories_name_length check (char_length(btrim(name)) between 1 and 50)
);
create unique index event_categories_name_key on event_categories (society_id, lower(name));

create table events (
    id               uuid primary key default gen_random_uuid(),
    society_id       uuid not null references societies (id) on delete cascade,
    title            text not null,
    description      text not null default '',
    -- what each new session gets; a session may be changed on its own
    location         text not null default '',
    capacity         integer not null,
    duration_minutes integer not null,
    category_id      uuid,
    -- the series is defined in local time, in this IANA zone (the society's when it was set up)
    time_zone        text not null,
    -- the first session's local date and start time
    start_date       date not null,
    start_time       time not null,
    -- a weekly series: ISO weekdays (1 = Monday), every `interval_weeks` weeks, up to
    -- `until_date` (inclusive) or `count` sessions. All null for a single session.
    weekdays         smallint[],
    interval_weeks   smallint,
    until_date       date,
    count            integer,
    -- the last series date (the start date for a single session)
    last_date        date not null,
    -- sessions exist as rows for the series dates up to this local date (the horizon); the
    -- horizon job extends it as time passes, until it reaches `last_date`
    generated_until  date not null,
    created_by       uuid references users (id) on delete set null,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint events_society_key unique (society_id, id),
    constraint events_category_fkey foreign key (society_id, category_id)
        references event_categories (society_id, id) on delete set null (category_id),
    constraint events_title_length check (char_length(btrim(title)) between 1 and 120),
    constraint events_description_length check (char_length(description) <= 4000),
    constraint events_location_length check (char_length(location) <= 200),
    constraint events_capacity_range check (capacity between 1 and 1000),
    constraint events_duration_range check (duration_minutes between 5 and 1440),
    constraint events_weekly_shape check (
        (weekdays is null and interval_weeks is null and until_date is null and count is null)
        or (cardinality(weekdays) between 1 and 7 and weekdays <@ '{1,2,3,4,5,6,7}'
            and interval_weeks between 1 and 52
            and (until_date is not null or count is not null)
            and (until_date is null or until_date >= start_date)
            and (count is null or count between 1 and 500))),
    constraint events_dates_order check (start_date <= generated_until and generated_until <= last_date)
);
create index events_society_idx on events (society_id);
-- the horizon job looks for series whose rows end before the horizon
create index events_open_horizon_idx on events (generated_until) where generated_until < last_date;

-- who may teach in a society (the event forms and the calendar's trainer filter)
create index memberships_staff_idx on memberships (society_id)
    where status = 'approved' and role in ('trainer', 'admin');

create table event_trainers (
    event_id   uuid not null references events (id) on delete cascade,
    society_id uuid not null,
    trainer_id uuid not null,
    constraint event_trainers_pkey primary key (event_id, trainer_id),
    constraint event_trainers_member_fkey foreign key (society_id, trainer_id)
        references memberships (society_id, user_id) on delete cascade
);

create type occurrence_status as enum ('scheduled', 'cancelled');

create table occurrences (
    id            uuid primary key default gen_random_uuid(),
    society_id    uuid not null,
    event_id      uuid not null,
    -- the series date this session was made for; a moved session keeps it, so extending the
    -- series never makes the same session twice
    series_date   date not null,
    starts_at     timestamptz not null,
    ends_at       timestamptz not null,
    location      text not null default '',
    capacity      integer not null,
    status        occurrence_status not null default 'scheduled',
    cancel_reason text not null default '',
    cancelled_at  timestamptz,
    cancelled_by  uuid references users (id) on delete set null,
    -- iCal SEQUENCE: each change a calendar app should show bumps it
    sequence      integer not null default 0,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint occurrences_event_fkey foreign key (society_id, event_id)
        references events (society_id, id) on delete cascade,
    constraint occurrences_series_date_key unique (event_id, series_date),
    -- a session ends after it starts, within a day (the calendar's index range relies on it)
    constraint occurrences_time_order check (ends_at > starts_at and ends_at <= starts_at + interval '1 day'),
    constraint occurrences_capacity_range check (capacity between 1 and 1000),
    constraint occurrences_location_length check (char_length(location) <= 200),
    constraint occurrences_cancel_reason_length check (char_length(cancel_reason) <= 1000),
    constraint occurrences_cancelled_shape check ((status = 'cancelled') = (cancelled_at is not null))
);
-- the calendar: one society's sessions in a time window
create index occurrences_society_time_idx on occurrences (society_id, starts_at);
create index occurrences_event_idx on occurrences (event_id, starts_at);

-- Who teaches a session. `during` and `cancelled` copy the session's time and status (the
-- triggers below keep them in step) so that the database itself refuses a trainer on two
-- overlapping sessions that are not cancelled, in any society.
create table occurrence_trainers (
    occurrence_id uuid not null references occurrences (id) on delete cascade,
    society_id    uuid not null,
    trainer_id    uuid not null,
    during        tstzrange not null,
    cancelled     boolean not null default false,
    constraint occurrence_trainers_pkey primary key (occurrence_id, trainer_id),
    constraint occurrence_trainers_member_fkey foreign key (society_id, trainer_id)
        references memberships (society_id, user_id) on delete cascade,
    constraint occurrence_trainers_no_overlap exclude using gist
        (trainer_id with =, during with &&) where (not cancelled)
);
create index occurrence_trainers_trainer_idx on occurrence_trainers (trainer_id, lower(during));

create function occurrence_trainers_copy_time() returns trigger language plpgsql as $$
begin
    select tstzrange(o.starts_at, o.ends_at), o.status = 'cancelled'
      into new.during, new.cancelled
      from occurrences o where o.id = new.occurrence_id;
    return new;
end $$;
create trigger occurrence_trainers_copy_time before insert or update of occurrence_id on occurrence_trainers
    for each row execute function occurrence_trainers_copy_time();

create function occurrences_sync_trainers() returns trigger language plpgsql as $$
begin
    update occurrence_trainers set during = tstzrange(new.starts_at, new.ends_at),
                                   cancelled = new.status = 'cancelled'
     where occurrence_id = new.id;
    return null;
end $$;
create trigger occurrences_sync_trainers after update of starts_at, ends_at, status on occurrences
    for each row execute function occurrences_sync_trainers();

-- Someone who stops teaching in a society (made a plain member, suspended, rejected) comes off
-- its events and the sessions still to come; past sessions keep who taught them.
create function memberships_drop_teaching() returns trigger language plpgsql as $$
begin
    if new.status <> 'approved' or new.role = 'member' then
        delete from event_trainers where society_id = new.society_id and trainer_id = new.user_id;
        delete from occurrence_trainers ot using occurrences o
         where o.id = ot.occurrence_id and ot.society_id = new.society_id
           and ot.trainer_id = new.user_id and o.starts_at > now();
    end if;
    return null;
end $$;
create trigger memberships_drop_teaching after update of role, status on memberships
    for each row execute function memberships_drop_teaching();

-- Secret calendar feed addresses: a person's own feed (`society_id` null: what they teach,
-- later what they booked) and, for members of a society whose calendar is not public, that
-- society's feed. The token is kept as it is (not hashed) because the person must be able to
-- see the address again; it reveals only sessions this database holds anyway. Resetting
-- replaces it.
create table calendar_feeds (
    token      text primary key,
    user_id    uuid not null references users (id) on delete cascade,
    society_id uuid references societies (id) on delete cascade,
    created_at timestamptz not null default now(),
    constraint calendar_feeds_owner_key unique nulls not distinct (user_id, society_id),
    constraint calendar_feeds_token_length check (char_length(token) >= 32)
);
