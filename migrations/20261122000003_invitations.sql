-- Invitations by email, and outbox rows for people who have no account yet.

-- An admin invites an address; the link in the email carries a secret whose SHA-256 is
-- stored here. Accepting it (signed in with that address) makes an approved membership.
create table invitations (
    id          uuid primary key default gen_random_uuid(),
    society_id  uuid not null references societies (id) on delete cascade,
    -- normalised (trimmed, lower case) address the invitation is for
    email       text not null,
    role        membership_role not null default 'member',
    token_hash  bytea not null,
    invited_by  uuid references users (id) on delete set null,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    accepted_at timestamptz,
    accepted_by uuid references users (id) on delete set null,
    revoked_at  timestamptz,
    revoked_by  uuid references users (id) on delete set null,
    constraint invitations_token_key unique (token_hash),
    constraint invitations_email_format check (
        email = lower(btrim(email)) and char_length(email) between 3 and 254 and email like '_%@_%'),
    -- an invitation ends once: accepted or revoked, never both
    constraint invitations_one_end check (accepted_at is null or revoked_at is null)
);
-- At most one open invitation per address and society; inviting again replaces it.
create unique index invitations_open_key on invitations (society_id, email)
    where accepted_at is null and revoked_at is null;
create index invitations_society_idx on invitations (society_id, created_at desc);

-- An invitee may have no account yet: the outbox addresses them by email.
alter table notification_outbox
    alter column recipient_id drop not null,
    add column recipient_email text,
    add constraint notification_outbox_recipient check (recipient_id is not null or recipient_email is not null);

-- The member directory sorts by name within a society.
create index users_name_idx on users (lower(name), id);

-- The join policy becomes an enum like the membership role and status.
create type join_policy as enum ('approval', 'open');
alter table societies
    drop constraint societies_join_policy,
    alter column join_policy drop default,
    alter column join_policy type join_policy using join_policy::join_policy,
    alter column join_policy set default 'approval';
