#!/usr/bin/env bash
# The project's one test command (`npm test`), for a fresh Debian machine as much as for a developer:
# installs what the tests need (apt + npm), builds, lints, runs the unit tests, brings up the SSH lab,
# runs the lab tests against real hosts, and takes the lab down again (checking nothing is left behind).
set -euo pipefail
cd "$(dirname "$0")/.."

# lab-01 … lab-50 for the feature, fault and load tests, lab-51 … lab-66 for the reference fleet, lab-67 … lab-70 for the host
# watches, lab-71 … lab-100 for several daemons sharing the fleet (test/lab/cluster.test.ts).
LAB_HOSTS="${HOSTOP_TEST_LAB_HOSTS:-100}"

log() { printf '\n=== %s\n' "$*"; }

install_apt() {
  local missing=()
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v git >/dev/null || missing+=(git)
  command -v ssh >/dev/null || missing+=(openssh-client)
  command -v systemd-analyze >/dev/null || missing+=(systemd)
  command -v inotifywait >/dev/null || missing+=(inotify-tools)
  command -v zsh >/dev/null || missing+=(zsh) # the zsh completion script is run by a unit test
  command -v etcd >/dev/null || missing+=(etcd-server) # several daemons: the lab tests start their own cluster
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  # The prometheus package is here for promtool and for the end-to-end test's own Prometheus, etcd-server for the
  # tests' own etcd cluster on loopback; keep their maintainer scripts from starting system-wide daemons.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; created=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ "$created" = 1 ] && rm -f "$policy"
  return 0
}

install_apt
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
fi
log "build"
npm run build --silent
log "lint"
npm run lint --silent
log "unit tests"
npm run test:unit --silent

log "lab up --hosts $LAB_HOSTS"
cleanup() {
  log "lab down"
  bash scripts/lab.sh down || true
  bash scripts/lab.sh check-clean
}
trap cleanup EXIT
bash scripts/lab.sh up --hosts "$LAB_HOSTS"
log "lab tests"
npm run test:lab --silent
