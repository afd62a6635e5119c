#!/usr/bin/env bash
# Starts a throwaway CNCF distribution registry on a free loopback port.
# Usage: source scripts/registry.sh; start_registry DIR  -> sets REGISTRY (127.0.0.1:PORT) and REGISTRY_PID
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_registry() {
  local dir=$1 port
  port=$(free_port)
  mkdir -p "$dir/storage"
  cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
  docker-registry serve "$dir/config.yml" >"$dir/access.log" 2>"$dir/error.log" </dev/null &
  REGISTRY_PID=$!
  REGISTRY=127.0.0.1:$port
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "registry did not start: $(cat "$dir/error.log")" >&2
  return 1
}

# Makes a work dir and starts registries A and B in it, all removed on exit.
# Usage: source scripts/registry.sh; two_registries PREFIX  -> sets WORK, A, B
two_registries() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  REGISTRY_PIDS=()
  trap 'for p in "${REGISTRY_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
  start_registry "$WORK/reg-a"; A=$REGISTRY; REGISTRY_PIDS+=("$REGISTRY_PID")
  start_registry "$WORK/reg-b"; B=$REGISTRY; REGISTRY_PIDS+=("$REGISTRY_PID")
}
