#!/usr/bin/env bash
# Exercises deploy/backup and deploy/restore against a real PostgreSQL server:
#   test_backup_restore.sh ROOT ADMIN_URL WORK
# ADMIN_URL is a superuser URL of the server (its database is used only to create and drop
# the scratch ones). The scratch databases belong to an ordinary login role, as Roster's do
# in production, and hold Roster's real schema (migrations/*.sql) plus some rows.
set -euo pipefail

root="$1"; admin="$2"; work="$3"
tag="dc$$"
owner="roster_${tag}"
src="roster_${tag}_src"; dst="roster_${tag}_dst"
base="${admin%/*}"; base="${base%%\?*}"
server="${base#*://}"; server="${server#*@}"
url_of() { printf 'postgres://%s@%s/%s' "$owner" "$server" "$1"; }
ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; exit 1; }
psql_admin() { psql --no-psqlrc -v ON_ERROR_STOP=1 --quiet --dbname="$admin" "$@"; }

cleanup() {
  psql_admin -c "drop database if exists $src with (force)" -c "drop database if exists $dst with (force)" \
    -c "drop role if exists $owner" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mkdir -p "$work"
rm -f "$work"/*.dump "$work"/*.partial

psql_admin -c "create role $owner login" -c "create database $src owner $owner" -c "create database $dst owner $owner" >/dev/null
# Roster's schema, applied as the owner (not a superuser), as Roster's start-up does.
for f in "$root"/migrations/*.sql; do
  psql --no-psqlrc -v ON_ERROR_STOP=1 --quiet --dbname="$(url_of "$src")" -f "$f" >/dev/null || fail "applying $(basename "$f") to the scratch database"
done
psql --no-psqlrc -v ON_ERROR_STOP=1 --quiet --dbname="$(url_of "$src")" >/dev/null <<'SQL'
create table deploy_check_rows (id bigint primary key, note text, at timestamptz);
insert into deploy_check_rows select g, 'row ' || g || ' ' || repeat('x', g % 50), now() - g * interval '1 minute'
  from generate_series(1, 5000) g;
SQL
checksum() {
  psql --no-psqlrc -v ON_ERROR_STOP=1 --quiet --tuples-only --no-align --dbname="$(url_of "$1")" -c \
    "select md5(string_agg(id || ':' || note || ':' || at::text, ',' order by id)) from deploy_check_rows"
}
relations() {
  psql --no-psqlrc -v ON_ERROR_STOP=1 --quiet --tuples-only --no-align --dbname="$(url_of "$1")" -c \
    "select string_agg(c.relname || ':' || c.relkind::text, ',' order by c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r','p','v','m','S','i')"
}

same() {  # same WHAT: the source and the target agree on WHAT (checksum or relations)
  local a b
  if ! a="$("$1" "$src")" || ! b="$("$1" "$dst")"; then fail "cannot read $1 of the scratch databases"; fi
  [ -n "$a" ] && [ "$a" = "$b" ]
}

# Backup: a timestamped file in the folder, its path on stdout.
dump="$(DATABASE_URL="$(url_of "$src")" "$root/deploy/backup" "$work" 2>"$work/backup.log")" || { cat "$work/backup.log"; fail "deploy/backup"; }
[[ "$(basename "$dump")" =~ ^roster-${src}-[0-9]{8}T[0-9]{6}Z\.dump$ ]] || fail "deploy/backup named the dump $dump"
if [ ! -s "$dump" ] || ! pg_restore --list "$dump" >/dev/null; then fail "the dump $dump is not readable"; fi
[ "$(stat -c %a "$dump")" = 600 ] || fail "the dump is readable by others (mode $(stat -c %a "$dump"))"
ok "deploy/backup: $(basename "$dump") ($(du -h "$dump" | cut -f1)), verified with pg_restore --list, mode 600"

# Restore into the empty database, as the owner: same tables, same rows.
"$root/deploy/restore" "$dump" "$(url_of "$dst")" 2>"$work/restore.log" || { cat "$work/restore.log"; fail "deploy/restore into an empty database"; }
same checksum || fail "restored rows differ from the original"
same relations || fail "restored tables and indexes differ from the original"
ok "deploy/restore: into an empty database as a non-superuser; tables, indexes and row checksums equal"

# A non-empty target is refused, and left alone.
status=0
"$root/deploy/restore" "$dump" "$(url_of "$dst")" 2>"$work/refuse.log" || status=$?
[ "$status" -eq 3 ] || { cat "$work/refuse.log"; fail "deploy/restore over a non-empty database without --force: exit $status, not 3 (refused)"; }
grep -q 'not empty' "$work/refuse.log" || { cat "$work/refuse.log"; fail "deploy/restore did not say why it refused"; }
ok "deploy/restore: refuses a non-empty target without --force, exit 3 ($(grep -o 'not empty ([^)]*)' "$work/refuse.log"))"

# --force replaces it.
psql --no-psqlrc --quiet --dbname="$(url_of "$dst")" -c "delete from deploy_check_rows where id > 4000" >/dev/null
"$root/deploy/restore" --force "$dump" "$(url_of "$dst")" 2>"$work/force.log" || { cat "$work/force.log"; fail "deploy/restore --force"; }
same checksum || fail "deploy/restore --force did not bring back the dump's rows"
ok "deploy/restore --force: replaces a changed database with the dump's contents"

# A damaged dump is refused before anything is touched.
head -c 2000 "$dump" >"$work/damaged.dump"
if "$root/deploy/restore" --force "$work/damaged.dump" "$(url_of "$dst")" 2>"$work/damaged.log"; then fail "deploy/restore accepted a truncated dump"; fi
same checksum || fail "a refused restore changed the target"
ok "deploy/restore: refuses a truncated dump and leaves the target as it was"

# A backup of a database that does not exist fails, and leaves no file.
if DATABASE_URL="$(url_of "${tag}_missing")" "$root/deploy/backup" "$work" >/dev/null 2>"$work/missing.log"; then fail "deploy/backup succeeded on a missing database"; fi
if ls "$work"/roster-"${tag}"_missing-* >/dev/null 2>&1; then fail "deploy/backup left a file behind after failing"; fi
ok "deploy/backup: fails on an unreachable database and leaves no partial file"
