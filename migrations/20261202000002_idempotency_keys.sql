-- REST requests retried with the same `Idempotency-Key` header get the first answer again and
-- change nothing twice. A key is the caller's own; the row is written in the transaction of
-- the change it answers, so a key exists exactly when that change happened.
create table idempotency_keys (
    user_id      uuid not null references users (id) on delete cascade,
    key          text not null,
    -- what the first request asked (method, path, body): the same key with another is refused
    request      text not null,
    status       smallint not null,
    response     jsonb not null,
    created_at   timestamptz not null default now(),
    constraint idempotency_keys_pkey primary key (user_id, key),
    constraint idempotency_keys_key_length check (char_length(key) between 1 and 255)
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);
