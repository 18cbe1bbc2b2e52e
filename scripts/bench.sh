#!/usr/bin/env bash
# npm run bench: hostop against Ansible on the same lab hosts, side by side in one run.
# Installs Ansible (Debian package) if missing, builds hostop, brings the lab up to the hosts the benchmark
# needs (never down: other suites may be using it), runs scripts/bench/main.ts, which prints Markdown tables on
# stdout and rewrites BENCHMARKS.md (keeping its hand-written preamble). Knobs: scripts/bench/config.ts
# (BENCH_* environment variables). Method: docs/BENCHMARKS-METHOD.md.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

# Hosts the lab must have: the biggest size asked for (default 150 for the scaling table).
max_hosts() {
  local n max=0
  local sizes="${BENCH_SIZES-10,50,100} ${BENCH_SCALE_SIZES-150} ${BENCH_DRIFT_HOSTS:-50} ${BENCH_FLOOR_HOSTS:-50}"
  [[ ${BENCH_ONLY:-} != watch && ${BENCH_ONLY:-} != cluster ]] || sizes=""
  for n in $sizes ${BENCH_WATCH_HOSTS:-50} ${BENCH_WATCH_IDLE_HOSTS:-100}; do
    for n in ${n//,/ }; do ((n > max)) && max=$n; done
  done
  echo "$max"
}

if [[ ${BENCH_NO_ANSIBLE:-} != 1 ]] && ! command -v ansible-playbook >/dev/null; then
  log "installing Ansible (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q ansible >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q ansible >/dev/null; }
fi
command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null

[[ -d node_modules ]] || npm ci --no-audit --no-fund
log "building hostop"
npm run -s build

# The lab is one machine-wide resource. `lab.sh up` takes down a lab another checkout brought up, and
# `up --hosts` halts hosts of a fleet lab (`up --fleet`, e.g. the demo's agent-01…): either would break someone
# else's work. Wait (at most BENCH_LAB_WAIT seconds, default 30 min) until the lab is down, or ours with only
# lab-NN hosts.
LAB_STATE=/var/lib/hostop-lab/state
lab_owner() { awk '$1 == "owner" { print $3 }' "$LAB_STATE" 2>/dev/null || true; }
lab_hosts() { awk '$1 == "host"' "$LAB_STATE" 2>/dev/null | wc -l; }
# Why the lab is not ours to resize now, or nothing.
lab_busy() {
  local owner fleet
  owner=$(lab_owner)
  (($(lab_hosts) > 0)) || return 0
  if [[ -n $owner && $owner != "$REPO_ROOT" ]]; then
    echo "in use by another checkout ($owner)"
  else
    fleet=$(awk '$1 == "host" && $2 !~ /^lab-[0-9]+$/ { print $2 }' "$LAB_STATE" | head -3 | paste -sd, -)
    [[ -z $fleet ]] || echo "a fleet lab ($fleet, …), probably the demo's"
  fi
}
wait_for_lab() {
  local deadline=$((SECONDS + ${BENCH_LAB_WAIT:-1800})) why
  while why=$(lab_busy) && [[ -n $why ]]; do
    ((SECONDS < deadline)) || { log "the lab is still $why; giving up"; exit 1; }
    log "the lab is $why; waiting for it to be taken down"
    sleep 30
  done
}
wait_for_lab

HOSTS=$(max_hosts)
KEEP=100 # the lab size the project's suites expect: never shrink below it
# `up` only adds missing hosts (running ones keep running). If the lab (ours) already has enough hosts that all
# answer, leave it alone.
have=0
[[ $(lab_owner) == "$REPO_ROOT" ]] && have=$(lab_hosts)
restore=$((have > KEEP ? have : KEEP))
if ((have < HOSTS)) || bash scripts/lab.sh status | grep -q DOWN; then
  ((have > HOSTS)) && HOSTS=$have # never shrink a lab others may be using
  log "lab up --hosts $HOSTS"
  bash scripts/lab.sh up --hosts "$HOSTS"
  # Fresh hosts keep starting services for a while after sshd answers: let the load settle (at most 2 min).
  for ((i = 0; i < 24; i++)); do
    awk -v max=$(($(nproc) * 3)) '{ exit !($1 < max) }' /proc/loadavg && break
    sleep 5
  done
fi

# Hosts beyond what the lab had (and beyond KEEP) were only for the scaling table: halt them afterwards, so
# ~70 MB each go back to the shared machine. Hosts others may use are never touched.
shrink() {
  # Only a lab that is still ours and still the size we made: anything else means someone else changed it.
  if ((HOSTS > restore)) && [[ $(lab_owner) == "$REPO_ROOT" ]] && (($(lab_hosts) == HOSTS)); then
    log "lab up --hosts $restore (halting the hosts added for the scaling table)"
    # lab.sh exits non-zero after a shrink that starts no host (its boot check runs with no host), so judge
    # by the hosts it lists afterwards.
    bash scripts/lab.sh up --hosts "$restore" || true
    [[ $(grep -sc '^kind: Host' .lab/hosts.yaml) == "$restore" ]] || log "could not shrink the lab back to $restore hosts"
  fi
}
trap shrink EXIT

if [[ ${BENCH_ONLY:-} == cluster ]]; then
  command -v etcd >/dev/null || apt-get install -y -q etcd-server >/dev/null
  log "running the several-daemons benchmark only (about 10 minutes)"
  timeout --foreground -k 30 30m npx tsx scripts/bench/cluster-main.ts
  exit
fi
if [[ ${BENCH_ONLY:-} == watch ]]; then
  log "running the host-watch benchmark only (about 10 minutes)"
  timeout --foreground -k 30 30m npx tsx scripts/bench/watch-main.ts
  exit
fi
log "running the benchmark (about 20 minutes)"
timeout --foreground -k 30 45m npx tsx scripts/bench/main.ts
log "running the host-watch benchmark (about 10 minutes)"
timeout --foreground -k 30 30m npx tsx scripts/bench/watch-main.ts
