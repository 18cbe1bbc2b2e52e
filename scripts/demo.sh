#!/usr/bin/env bash
# The newcomer's first command (`npm run demo`): on a fresh Debian machine, installs what is needed, brings up
# the local lab with one real host per Host of the reference fleet (desired-state/), shows the plan, and leaves
# the hostop daemon running against it. Idempotent: run it again to restart the daemon on the current tree.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=desired-state
INVENTORY=.lab/hosts.yaml
LISTEN=127.0.0.1:9464
log() { printf '\n=== %s\n' "$*"; }

missing=()
command -v git >/dev/null || missing+=(git)
command -v ssh >/dev/null || missing+=(openssh-client)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"; npm ci --no-audit --no-fund
fi
log "build"; npm run build --silent

log "lab: one host per Host resource in $DIR"
bash scripts/lab.sh up --fleet "$DIR"

log "validate"
node bin/hostop.js validate "$DIR" --inventory "$INVENTORY"

log "plan (what the daemon is about to converge)"
node bin/hostop.js plan "$DIR" --inventory "$INVENTORY" --no-color || true

if [ -f .lab/hostop.pid ] && kill -0 "$(cat .lab/hostop.pid)" 2>/dev/null; then
  log "stopping the previous daemon"
  kill "$(cat .lab/hostop.pid)"; while kill -0 "$(cat .lab/hostop.pid)" 2>/dev/null; do sleep 0.2; done
fi
log "starting the daemon"
nohup node bin/hostop.js run "$DIR" --inventory "$INVENTORY" --listen "$LISTEN" --state-dir .lab/hostop-state --resync 30s \
  > .lab/hostop.log 2>&1 < /dev/null &
echo $! > .lab/hostop.pid
for _ in $(seq 1 120); do
  curl -fs "http://$LISTEN/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "http://$LISTEN/readyz" >/dev/null || { echo "daemon not ready; see .lab/hostop.log" >&2; exit 1; }

log "status"
node bin/hostop.js status --url "http://$LISTEN" || true
log "hosts up"
curl -fs "http://$LISTEN/metrics" | grep '^hostop_host_up' || true

cat <<EOT

hostop is running (pid $(cat .lab/hostop.pid)) against ${DIR}/ on the lab's $(grep -c '^kind: Host' "$INVENTORY") hosts.
  metrics   curl http://$LISTEN/metrics
  status    node bin/hostop.js status            (or curl http://$LISTEN/status)
  logs      tail -f .lab/hostop.log
  plan      node bin/hostop.js plan $DIR --inventory $INVENTORY
  try it    ssh -F .lab/ssh_config agent-01 'echo tampered > /etc/claude-code/managed-settings.d/10-telemetry.json'
            then watch it come back within a second (the host's watch): node bin/hostop.js status
  stop      kill \$(cat .lab/hostop.pid); npm run lab -- down
EOT
