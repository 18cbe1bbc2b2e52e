#!/usr/bin/env bash
# The lab: real Linux test hosts on this machine (systemd-nspawn over an overlay of a cached template,
# one network namespace each, on bridge hostopbr0 = 10.77.0.1/24). See docs/LAB.md.
#
#   lab.sh up --hosts N     hosts lab-01..lab-NN at 10.77.0.(10+i)
#   lab.sh up --fleet DIR   one host per Host resource in DIR (same names and labels, addresses in name order)
#   lab.sh down             halt every recorded host, remove every mount, namespace and link the lab made
#   lab.sh status           one line per host: name, address, whether sshd answers
#   lab.sh check-clean      exit 0 when nothing of the lab remains, else print what does and exit 1
#
# `up` adjusts a running lab: hosts that are no longer wanted (or whose address changed) are halted,
# missing ones are started fresh, the others keep running untouched; the outputs are always rewritten.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_LIB="$REPO_ROOT/scripts/lab"
# shellcheck source=lab/common.sh
source "$LAB_LIB/common.sh"
# shellcheck source=lab/template.sh
source "$LAB_LIB/template.sh"
# shellcheck source=lab/cgroups.sh
source "$LAB_LIB/cgroups.sh"
# shellcheck source=lab/hosts.sh
source "$LAB_LIB/hosts.sh"
# shellcheck source=lab/outputs.sh
source "$LAB_LIB/outputs.sh"

BOOT_WINDOW=8 # hosts booting at once
HALT_DEADLINE=30 # seconds for a clean halt before SIGKILL (a halt takes ~1 s)

usage() {
  sed -n '5,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# One machine-wide lock: two checkouts (or two shells) must not build or change the lab at once.
take_lock() {
  exec 9>/run/hostop-lab.lock
  flock -w 900 9 || die "another lab.sh holds /run/hostop-lab.lock"
}

# Prints the wanted hosts, one "NAME ADDRESS LABELS_JSON" line each.
desired_hosts() {
  local mode=$1 arg=$2 i=0 name labels
  if [[ $mode == --hosts ]]; then
    [[ $arg =~ ^[0-9]+$ ]] && ((arg >= 1 && arg <= 244)) || die "--hosts wants 1..244, got '$arg'"
    for ((i = 1; i <= arg; i++)); do
      printf 'lab-%02d %s.%d {"lab":"true"}\n' "$i" "$SUBNET" $((10 + i))
    done
    return
  fi
  [[ -d $arg ]] || die "--fleet wants a directory, got '$arg'"
  local listing
  listing=$(node "$LAB_LIB/fleet-hosts.mjs" "$arg") || die "could not read the fleet in $arg"
  [[ -n $listing ]] || die "no Host resources found under $arg"
  while IFS=$'\t' read -r name labels; do
    i=$((i + 1))
    ((i <= 244)) || die "the fleet has more than 244 hosts"
    printf '%s %s.%d %s\n' "$name" "$SUBNET" $((10 + i)) "$labels"
  done <<<"$listing"
}

raise_inotify_limits() {
  # systemd in each host takes inotify instances; the default 128 stops host 27 and later.
  (($(sysctl -n fs.inotify.max_user_instances) >= 8192)) || sysctl -qw fs.inotify.max_user_instances=8192
  (($(sysctl -n fs.inotify.max_user_watches) >= 524288)) || sysctl -qw fs.inotify.max_user_watches=524288
}

# A recorded host is kept when it is wanted at the same address and its nspawn still runs.
host_is_current() {
  local name=$1 address=$2 pid
  [[ $(records host "$name") == "$address" ]] || return 1
  pid=$(records pid "$name")
  [[ -n $pid ]] && is_lab_pid "$pid" "$name"
}

cmd_up() {
  [[ $# -eq 2 && ($1 == --hosts || $1 == --fleet) ]] || usage
  local start want template
  start=$(now_ms)
  want=$(desired_hosts "$1" "$2")
  take_lock
  ensure_host_packages
  raise_inotify_limits
  ensure_client_key
  mkdir -p "$(dirname "$STATE")"
  local owner
  owner=$(records owner)
  if [[ -n $owner && $owner != "$REPO_ROOT" ]]; then
    # Its hosts trust another checkout's client key: start over with ours.
    log "the lab is up for another checkout ($owner): taking it down first"
    down_recorded
  fi
  touch "$STATE"
  [[ -n $(records owner) ]] || record owner - "$REPO_ROOT"
  template=$(ensure_template)

  local recorded_template
  recorded_template=$(records template)
  if [[ -n $recorded_template && $recorded_template != "$template" ]]; then
    log "the template recipe changed: re-creating every host"
    stop_hosts "$HALT_DEADLINE" $(recorded_hosts)
  fi
  remove_old_templates "$template"
  check_foreign
  ensure_bridge
  if [[ $(records template) != "$template" ]]; then
    awk '$1 != "template"' "$STATE" >"$STATE.tmp" && mv "$STATE.tmp" "$STATE"
    record template - "$template"
  fi

  local -a stale=() missing=()
  local name address labels
  for name in $(recorded_hosts); do
    address=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$want")
    [[ -n $address ]] && host_is_current "$name" "$address" || stale+=("$name")
  done
  ((${#stale[@]} == 0)) || stop_hosts "$HALT_DEADLINE" "${stale[@]}"
  while read -r name address labels; do
    host_is_current "$name" "$address" || missing+=("$name=$address")
  done <<<"$want"

  if ((${#stale[@]} + ${#missing[@]} == 0)); then
    write_outputs <<<"$want"
    log "lab already up with these $(wc -l <<<"$want") host(s); outputs rewritten in $LAB_OUT"
    return
  fi
  ((${#stale[@]} == 0)) || log "halted ${#stale[@]} host(s) no longer wanted: ${stale[*]}"
  if ((${#missing[@]} == 0)); then
    write_outputs <<<"$want"
    log "lab up: $(wc -l <<<"$want") host(s) in $(elapsed "$start"); see $LAB_OUT/hosts.yaml"
    return
  fi
  log "starting ${#missing[@]} host(s) from $template"
  local boot
  boot=$(now_ms)
  launch_and_wait "$BOOT_WINDOW" "$template" "$LAB_OUT/id_ed25519.pub" "${missing[@]}"
  log "${#missing[@]} host(s) answer on :22 after $(elapsed "$boot")"
  write_outputs <<<"$want"
  wait_booted "${missing[@]%%=*}"
  log "lab up: $(wc -l <<<"$want") host(s) in $(elapsed "$start") total (boot: $(elapsed "$boot")); see $LAB_OUT/hosts.yaml"
}

# Waits (over ssh, 8 at a time) until systemd finished booting on each NAME and every service port
# listens; warns with the failed units of a host that ends up degraded.
wait_booted() {
  local results bad
  results=$(printf '%s\n' "$@" | xargs -r -P 8 -n 1 bash "${BASH_SOURCE[0]}" __booted)
  bad=$(grep -v ' running$' <<<"$results" || true)
  if [[ -n $bad ]]; then
    log "warning: not every host reached 'running':"
    printf '  %s\n' "$bad" >&2
  else
    log "systemd is 'running' and all services listen on all $# new host(s)"
  fi
}

cmd_booted() {
  local name=$1 out
  # shellcheck disable=SC2016 # runs on the host
  out=$(timeout 300 ssh -F "$LAB_OUT/ssh_config" "$name" '
    state=$(systemctl is-system-running --wait)
    for p in 13133 4317 4318 3200 3000 8001 8002 4000 9090; do
      for i in $(seq 150); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.2; done
      (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || state="$state; port $p closed"
    done
    # php-fpm (the real one) listens on unix sockets only.
    for i in $(seq 150); do [ -S /run/php/php8.2-fpm-legacy-shop.sock ] && break; sleep 0.2; done
    [ -S /run/php/php8.2-fpm-legacy-shop.sock ] || state="$state; php-fpm socket missing"
    [ "$state" = running ] || state="$state; failed: $(systemctl --failed --no-legend --plain | cut -d" " -f1 | paste -sd" ")"
    echo "$state"' 2>&1) || out="ssh failed: $out"
  echo "$name $out"
}

# Halts every recorded host and removes every recorded resource (the caller holds the lock).
down_recorded() {
  local start hosts br
  start=$(now_ms)
  hosts=$(recorded_hosts)
  [[ -z $hosts ]] || log "halting $(wc -w <<<"$hosts") host(s)"
  # shellcheck disable=SC2086 # one word per host
  stop_hosts "$HALT_DEADLINE" $hosts
  for br in $(records bridge); do
    ip link del "$br" 2>/dev/null || true
  done
  rm -f "$STATE"
  log "lab down in $(elapsed "$start")"
}

cmd_down() {
  take_lock
  if [[ ! -f $STATE ]]; then
    remove_outputs
    log "nothing recorded in $STATE: the lab is down"
    return
  fi
  down_recorded
  remove_outputs
}

cmd_status() {
  local name address
  if [[ -z $(records host) ]]; then
    echo "lab is down"
    return
  fi
  awk '$1 == "host" { print $2, $3 }' "$STATE" | while read -r name address; do
    if ssh_answers "$address"; then
      printf '%-16s %-12s sshd up\n' "$name" "$address"
    else
      printf '%-16s %-12s sshd DOWN\n' "$name" "$address"
    fi
  done
}

cmd_check_clean() {
  local -a left=()
  local pid line
  for pid in $(pgrep -x systemd-nspawn || true); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$HOSTS_DIR/" && left+=("nspawn process $pid")
  done
  while read -r line; do left+=("mount $line"); done < <(awk -v d="$HOSTS_DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo)
  while read -r line; do left+=("netns $line"); done < <(ip netns list | awk '$1 ~ /^hostop-/ { print $1 }')
  while read -r line; do left+=("cgroup $line ($(find "$line" -name cgroup.procs -exec cat {} + | wc -l) processes)"); done < <(leftover_cgroups)
  while read -r line; do left+=("link $line"); done < <(ip -o link show | awk -F': ' -v br="$BRIDGE" '$2 == br || $2 ~ /^hostopv[0-9]+(@|$)/ { sub(/@.*/, "", $2); print $2 }')
  if ((${#left[@]} == 0)); then
    echo "clean: no lab process, mount, namespace, cgroup or link remains"
    return 0
  fi
  printf 'left over: %s\n' "${left[@]}"
  return 1
}

case "${1:-}" in
up) shift && cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
check-clean) cmd_check_clean ;;
__booted) cmd_booted "$2" ;;
*) usage ;;
esac
