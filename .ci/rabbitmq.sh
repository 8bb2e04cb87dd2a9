# shellcheck shell=bash
# Source this file, then `rabbit_start` starts a throwaway RabbitMQ (Debian's rabbitmq-server,
# installed with apt if missing, no system service started) in a temporary directory on free
# loopback ports and exports HRMESH_TEST_AMQP_URL; `rabbit_stop` stops it and deletes its files.
# Erlang's port mapper (epmd, port 4369) is shared by every Erlang node on the machine and
# outlives the broker; it holds no data.

RABBIT_SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server

rabbit_install() {
  [ -x "$RABBIT_SERVER" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "rabbitmq-server is missing and installing it needs root: apt-get install rabbitmq-server" >&2
    return 1
  fi
  # No service may start at install time: the tests run their own broker.
  local guard=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  local status=$?
  [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
  return $status
}

rabbit_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rabbit_start() {
  rabbit_install || return 1
  RABBIT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hrmesh-rabbit.XXXXXX")
  RABBIT_PORT=$(rabbit_free_port)
  local dist_port
  dist_port=$(rabbit_free_port)
  echo '[].' >"$RABBIT_DIR/enabled_plugins"
  : >"$RABBIT_DIR/rabbitmq.conf"
  : >"$RABBIT_DIR/rabbitmq-env.conf"
  (
    export HOME=$RABBIT_DIR ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_NODENAME="hrmesh$RABBIT_PORT@localhost"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$RABBIT_PORT RABBITMQ_DIST_PORT=$dist_port
    export RABBITMQ_CONF_ENV_FILE=$RABBIT_DIR/rabbitmq-env.conf RABBITMQ_CONFIG_FILE=$RABBIT_DIR/rabbitmq.conf
    export RABBITMQ_ENABLED_PLUGINS_FILE=$RABBIT_DIR/enabled_plugins
    export RABBITMQ_MNESIA_BASE=$RABBIT_DIR/mnesia RABBITMQ_LOG_BASE=$RABBIT_DIR/log
    export RABBITMQ_PID_FILE=$RABBIT_DIR/rabbit.pid
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    exec setsid "$RABBIT_SERVER" >"$RABBIT_DIR/stdout.log" 2>&1 </dev/null
  ) &
  RABBIT_PID=$!
  # Wait until it answers the AMQP header with a frame (bounded: 90 s).
  for _ in $(seq 1 900); do
    if python3 - "$RABBIT_PORT" <<'PY' 2>/dev/null; then
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"AMQP\x00\x00\x09\x01")
sys.exit(0 if s.recv(1) == b"\x01" else 1)
PY
      export HRMESH_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/%2f"
      echo "RabbitMQ running on 127.0.0.1:$RABBIT_PORT ($RABBIT_DIR)"
      return 0
    fi
    if ! kill -0 "$RABBIT_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  tail -n 40 "$RABBIT_DIR/stdout.log" >&2 2>/dev/null
  return 1
}

rabbit_stop() {
  [ -n "${RABBIT_DIR:-}" ] || return 0
  # setsid made the script a process-group leader: TERM reaches the Erlang VM too.
  kill -TERM -- "-$RABBIT_PID" 2>/dev/null || kill -TERM "$RABBIT_PID" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$RABBIT_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$RABBIT_PID" 2>/dev/null || true
  wait "$RABBIT_PID" 2>/dev/null || true
  rm -rf "$RABBIT_DIR"
  RABBIT_DIR=
}
