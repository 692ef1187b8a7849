-- Membership requests and decisions, society join policy, and the notification outbox.

-- A suspended member keeps the row (and history) but may do nothing as a member.
alter type membership_status add value 'suspended';

alter table memberships
    -- what the person wrote when asking to join
    add column message         text not null default '',
    -- why an admin rejected (or suspended); shown to the person
    add column decision_reason text not null default '',
    add column decided_by      uuid references users (id) on delete set null,
    add column decided_at      timestamptz,
    add constraint memberships_message_length check (char_length(message) <= 1000),
    add constraint memberships_decision_reason_length check (char_length(decision_reason) <= 1000);

-- 'approval': requests wait for an admin; 'open': joining is approved at once.
alter table societies
    add column join_policy text not null default 'approval',
    add constraint societies_join_policy check (join_policy in ('approval', 'open'));

-- Notifications to deliver, written in the same transaction as the change they announce
-- and delivered later by a worker (sent_at set once delivered).
create table notification_outbox (
    id           bigint generated always as identity primary key,
    society_id   uuid references societies (id) on delete cascade,
    recipient_id uuid not null references users (id) on delete cascade,
    kind         text not null,
    payload      jsonb not null default '{}'::jsonb,
    created_at   timestamptz not null default now(),
    sent_at      timestamptz
);
create index notification_outbox_pending_idx on notification_outbox (created_at) where sent_at is null;
