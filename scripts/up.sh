#!/usr/bin/env bash
# Start `corral serve` in the background (if not already up) and say where to go.
set -euo pipefail
cd "$(dirname "$0")/.."
state_dir="$1" port="$2" log="$3" pidfile="$4"
url="http://127.0.0.1:${port}"
mkdir -p "$state_dir"
# Runtime state (container configs hold the env of running workspaces, secrets included)
# belongs on tmpfs. Where /run is a disk, give corral a tmpfs of its own, but never over a
# run dir that already holds state (running workspaces would be hidden from the daemon).
run_dir="${CORRAL_RUN_DIR:-/run/corral}"
if [[ "$(stat -f -c %T "$(dirname "$run_dir")")" != "tmpfs" ]] \
    && ! mountpoint -q "$run_dir" && [[ -z "$(ls -A "$run_dir" 2>/dev/null)" ]]; then
  mkdir -p "$run_dir"
  mount -t tmpfs -o mode=0700,size=1g corral-run "$run_dir"
fi
if ! curl -fsS "$url/v1/health" >/dev/null 2>&1; then
  CORRAL_STATE_DIR="$state_dir" CORRAL_PORT="$port" setsid .venv/bin/corral serve >>"$log" 2>&1 < /dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    curl -fsS "$url/v1/health" >/dev/null 2>&1 && break
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "corral failed to start; last lines of $log:" >&2; tail -20 "$log" >&2; exit 1
    fi
    sleep 0.1
  done
fi
echo
echo "  corral is up"
echo "  API:        $url/v1   (OpenAPI: $url/openapi.json)"
echo "  Dashboard:  $url/"
echo "  Admin key:  $(cat "$state_dir/admin.key")   (also in $state_dir/admin.key)"
echo "  Logs:       $log        Stop: make down"
echo
echo "  Try:  .venv/bin/corral create hello && .venv/bin/corral exec hello -- uname -a"
