-- Secrets an installation makes for itself, one row each, the same for every server: the key
-- that signs the check-in codes members show at a session (`checkin`).
create table server_secrets (
    name       text primary key,
    secret     bytea not null,
    created_at timestamptz not null default now(),
    constraint server_secrets_secret_length check (octet_length(secret) >= 32)
);

-- Attendance taken (a mark, a check-in) is news for a trainer's open roster: it follows the
-- session's live counts, which carry the counts unchanged.
create function bookings_notify_attendance() returns trigger language plpgsql as $$
begin
    perform pg_notify('occurrence_spots', json_build_object(
        'occurrence_id', o.id, 'capacity', o.capacity,
        'confirmed', o.confirmed_count, 'waitlisted', o.waitlisted_count)::text)
       from occurrences o where o.id = new.occurrence_id;
    return null;
end $$;
create trigger bookings_notify_attendance after update of attendance on bookings
    for each row when (new.attendance is distinct from old.attendance)
    execute function bookings_notify_attendance();

-- A person's news for their open pages (`LISTEN person_news`): a notification reached their
-- in-app list, or their unread count changed (read on another device).
create function notification_outbox_notify_person() returns trigger language plpgsql as $$
begin
    perform pg_notify('person_news', json_build_object(
        'user_id', new.recipient_id,
        'notification_id', case when new.in_app and not old.in_app then new.id end)::text);
    return null;
end $$;
create trigger notification_outbox_notify_person after update of in_app, read_at on notification_outbox
    for each row when ((new.in_app and not old.in_app) or (new.read_at is not null and old.read_at is null))
    execute function notification_outbox_notify_person();
