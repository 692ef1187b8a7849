-- Schema v1: people, societies, memberships, the audit log, sign-in links and sessions.

create table users (
    id                uuid primary key default gen_random_uuid(),
    -- who vouches for this person: an OpenID Connect issuer URL, or 'roster:email'
    issuer            text not null,
    -- the issuer's stable id for the person (OIDC `sub`; the address for email sign-in)
    subject           text not null,
    email             text not null default '',
    name              text not null,
    -- realm role `roster-admin`, refreshed at every sign-in
    is_platform_admin boolean not null default false,
    created_at        timestamptz not null default now(),
    last_login_at     timestamptz,
    constraint users_identity_key unique (issuer, subject)
);
create index users_email_idx on users (lower(email));

create table societies (
    id          uuid primary key default gen_random_uuid(),
    slug        text not null,
    name        text not null,
    description text not null default '',
    -- IANA time zone name, checked against the tz database by the domain code
    time_zone   text not null,
    created_at  timestamptz not null default now(),
    created_by  uuid references users (id) on delete set null,
    constraint societies_slug_key unique (slug),
    -- lowercase letters, digits and inner hyphens, 2 to 50 characters
    constraint societies_slug_format check (slug ~ '^[a-z0-9][a-z0-9-]{0,48}[a-z0-9]$' and slug not like '%--%'),
    constraint societies_name_length check (char_length(btrim(name)) between 1 and 100),
    constraint societies_description_length check (char_length(description) <= 4000)
);

create type membership_role as enum ('member', 'trainer', 'admin');
create type membership_status as enum ('pending', 'approved', 'rejected');

create table memberships (
    society_id uuid not null references societies (id) on delete cascade,
    user_id    uuid not null references users (id) on delete cascade,
    role       membership_role not null default 'member',
    status     membership_status not null default 'pending',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- one membership per person and society
    constraint memberships_pkey primary key (society_id, user_id)
);
create index memberships_user_idx on memberships (user_id);
create index memberships_society_status_idx on memberships (society_id, status);

-- Every change a person makes: who, what, when. Written in the same transaction as the change.
create table audit_log (
    id          bigint generated always as identity primary key,
    society_id  uuid references societies (id) on delete cascade,
    actor_id    uuid references users (id) on delete set null,
    action      text not null,
    subject_id  text,
    details     jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now()
);
create index audit_log_society_idx on audit_log (society_id, created_at desc);

-- Email sign-in links: only the SHA-256 of the token is stored; single use, short-lived.
create table email_login_tokens (
    token_hash     bytea primary key,
    email          text not null,
    next_path      text not null default '/',
    client_address text not null,
    created_at     timestamptz not null default now(),
    expires_at     timestamptz not null,
    used_at        timestamptz,
    constraint email_login_tokens_next_local check (next_path like '/%' and next_path not like '//%')
);
create index email_login_tokens_email_idx on email_login_tokens (email, created_at);
create index email_login_tokens_client_idx on email_login_tokens (client_address, created_at);

-- Server-side sessions (tower-sessions PostgresStore layout).
create schema tower_sessions;
create table tower_sessions.session (
    id          text primary key not null,
    data        bytea not null,
    expiry_date timestamptz not null
);
create index session_expiry_idx on tower_sessions.session (expiry_date);
