#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the store tests, from Debian's packages.
#
#   eval "$(scripts/postgres-test-server.sh start)"   # prints export ROTOR_TEST_DATABASE_URL=... and ROTOR_TEST_PG_DIR=...
#   eval "$(scripts/postgres-test-server.sh start --durable)"   # fsync and synchronous commit on (benchmarks)
#   eval "$(scripts/postgres-test-server.sh start --tls CERT KEY)"   # TLS with that PEM pair (sslmode tests)
#   scripts/postgres-test-server.sh stop "$ROTOR_TEST_PG_DIR"
#
# The cluster lives in a temporary directory owned by the `postgres` user when run as root (initdb
# refuses root), listens on 127.0.0.1 on a free port only, and has one role and one database for
# the tests. Progress goes to stderr; stdout carries only the exports.
set -euo pipefail

bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$dir" && -x "$dir/initdb" ]] || { echo "postgres-test-server: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }
  echo "$dir"
}

as_owner() {
  # setpriv (util-linux) only switches ids: no PAM session, no terminal handling.
  if [[ $(id -u) -eq 0 ]]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
  bin=$(bin_dir)
  shift
  durable=""
  tls=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
    --durable) durable=1; shift ;;
    --tls) tls_cert=${2:?--tls CERT KEY}; tls_key=${3:?--tls CERT KEY}; tls=1; shift 3 ;;
    *) echo "postgres-test-server: unknown option $1" >&2; exit 2 ;;
    esac
  done
  dir=$(mktemp -d /tmp/rotor-pg.XXXXXX)
  chmod 0755 "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  password=$(openssl rand -hex 16)
  as_owner bash -c "umask 077; printf '%s\n' '$password' > '$dir/superuser-password'"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/superuser-password" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >&2
  # fsync off: a test database need not survive a power cut, and the store tests run faster. A
  # benchmark (--durable) keeps PostgreSQL's defaults, to compare with SQLite's synced commits.
  durability="-c fsync=off -c synchronous_commit=off"
  [[ -n $durable ]] && durability=""
  ssl=""
  if [[ -n $tls ]]; then
    # PostgreSQL refuses a key file that its owner does not own or that others can read.
    install -m 0644 "$tls_cert" "$dir/server.crt"
    install -m 0600 "$tls_key" "$dir/server.key"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir/server.crt" "$dir/server.key"
    ssl="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
  fi
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 $durability $ssl" start >&2
  PGPASSWORD=$password psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q >&2 <<SQL
CREATE ROLE rotor LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE rotor_test OWNER rotor;
SQL
  echo "export ROTOR_TEST_DATABASE_URL='postgres://rotor:$password@127.0.0.1:$port/rotor_test?sslmode=disable'"
  echo "export ROTOR_TEST_PG_DIR='$dir'"
  ;;
stop)
  dir=${2:?usage: postgres-test-server.sh stop DIR}
  bin=$(bin_dir)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: postgres-test-server.sh start | stop DIR" >&2
  exit 2
  ;;
esac
