-- Secret calendar feed addresses are kept like sign-in links: only the SHA-256 of the token.
-- The address is shown when it is made (or replaced), never again; a lost one is replaced.
--
-- Expand now, contract later: the plain `token` column stays (emptied, nullable) for one
-- release, so a server of the previous version that is still running during a rolling update
-- can still insert; the trigger hashes what it writes and keeps no plain token. A later
-- migration drops the column.
alter table calendar_feeds add column token_hash bytea;
update calendar_feeds set token_hash = sha256(convert_to(token, 'UTF8'));
alter table calendar_feeds drop constraint calendar_feeds_pkey;
alter table calendar_feeds drop constraint calendar_feeds_token_length;
alter table calendar_feeds alter column token drop not null;
update calendar_feeds set token = null;
alter table calendar_feeds alter column token_hash set not null;
alter table calendar_feeds add constraint calendar_feeds_pkey primary key (token_hash);
alter table calendar_feeds add constraint calendar_feeds_token_hash_length
    check (octet_length(token_hash) = 32);
alter table calendar_feeds add constraint calendar_feeds_no_plain_token check (token is null);

create function calendar_feeds_hash_token() returns trigger language plpgsql as $$
begin
    if new.token is not null then
        new.token_hash := sha256(convert_to(new.token, 'UTF8'));
        new.token := null;
    end if;
    return new;
end $$;
create trigger calendar_feeds_hash_token before insert or update on calendar_feeds
    for each row execute function calendar_feeds_hash_token();
