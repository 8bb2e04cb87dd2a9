# shellcheck shell=bash
# Source this file, then `pg_start [extra postgres -c options...]` starts a throwaway PostgreSQL
# cluster in a temporary directory on a free loopback port and exports HRMESH_TEST_POSTGRES_URL;
# `pg_stop` stops it and deletes its files. Needs only the PostgreSQL server binaries (initdb,
# pg_ctl) — Debian's postgresql-15 package — and no running server.

pg_bin_dir() {
  local initdb
  initdb=$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$initdb" ]; then
    echo "PostgreSQL server binaries not found (install postgresql-15)" >&2
    return 1
  fi
  dirname "$(readlink -f "$initdb")"
}

pg_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_start() {
  PG_BIN=$(pg_bin_dir) || return 1
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hrmesh-pg.XXXXXX")
  PG_PORT=$(pg_free_port)
  PG_AS=()
  # initdb refuses to run as root; run the cluster as the postgres system user then.
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG_DIR"
    PG_AS=(runuser -u postgres --)
  fi
  "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U hrmesh --auth=trust -E UTF8 --no-locale \
    >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  local options="-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=400"
  for option in "$@"; do options="$options -c $option"; done
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -o "$options" -w start \
    >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  export HRMESH_TEST_POSTGRES_URL="postgres://hrmesh@127.0.0.1:$PG_PORT"
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') running on 127.0.0.1:$PG_PORT ($PG_DIR)"
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=
}
