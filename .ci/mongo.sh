# shellcheck shell=bash
# Source this file, then `mongo_start` starts a throwaway MongoDB wire-protocol server (nx-27017
# from PyPI, on SQLite: no mongod exists for this machine) in a temporary directory on a free
# loopback port and exports HRMESH_TEST_MONGODB_URL; `mongo_stop` stops it and deletes its files.
# It serves CRUD, unique indexes, conditional updates, upserts and aggregation — what the
# notification store uses — but no change streams and no transaction isolation.

mongo_start() {
  if ! python3 -c 'import nx_27017' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check nx-27017 || return 1
  fi
  MONGO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hrmesh-mongo.XXXXXX")
  MONGO_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # Its own PID file: the default one is shared by every instance on the machine.
  # Started through python3, so a pip --user install off PATH works as well.
  python3 -c 'import sys; from nx_27017.nx_27017 import main; sys.argv[0] = "nx-27017"; sys.exit(main())' \
    --host 127.0.0.1 -p "$MONGO_PORT" --data-dir "$MONGO_DIR/data" \
    --log-file "$MONGO_DIR/server.log" --pid-file "$MONGO_DIR/nx-27017.pid" \
    >"$MONGO_DIR/stdout.log" 2>&1 &
  MONGO_PID=$!
  # Wait until it accepts connections (bounded: 30 s).
  for _ in $(seq 1 300); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $MONGO_PORT)))" 2>/dev/null; then
      export HRMESH_TEST_MONGODB_URL="mongodb://127.0.0.1:$MONGO_PORT/?directConnection=true"
      echo "MongoDB wire server (nx-27017) running on 127.0.0.1:$MONGO_PORT ($MONGO_DIR)"
      return 0
    fi
    if ! kill -0 "$MONGO_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  cat "$MONGO_DIR/stdout.log" "$MONGO_DIR/server.log" >&2 2>/dev/null
  return 1
}

mongo_stop() {
  [ -n "${MONGO_DIR:-}" ] || return 0
  kill "$MONGO_PID" 2>/dev/null || true
  wait "$MONGO_PID" 2>/dev/null || true
  rm -rf "$MONGO_DIR"
  MONGO_DIR=
}
