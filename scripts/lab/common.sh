# Shared settings and the state file of the lab (sourced by scripts/lab.sh).
#
# The state file records everything the lab created, one resource a line, so `down` removes exactly that.
# It is machine-wide (the bridge, subnet and namespaces are too): a lab left up by another checkout, or by a
# run that was killed, is found and taken down by the next `up` or `down` from any checkout.
#   owner    -    /path/of/the/checkout   (whose .lab/ holds the client key the hosts trust)
#   bridge   -    hostopbr0
#   template -    /var/cache/hostop-lab/template-HASH
#   cgroup   NAME /sys/fs/cgroup/systemd/hostop-lab/NAME   (one per tracking hierarchy, see cgroups.sh)
#   netns    NAME hostop-NAME
#   link     NAME hostopvOCTET
#   mount    NAME /var/lib/hostop-lab/hosts/NAME/merged
#   pid      NAME PID
#   host     NAME ADDRESS        (written last: the host was started completely)
# A record is appended right after its resource exists, so a failed `up` can still be undone.

LAB_OUT="$REPO_ROOT/.lab"
STATE=/var/lib/hostop-lab/state
CACHE_DIR=/var/cache/hostop-lab
HOSTS_DIR=/var/lib/hostop-lab/hosts
BRIDGE=hostopbr0
SUBNET=10.77.0
GATEWAY="$SUBNET.1"

log() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

now_ms() { date +%s%3N; }
elapsed() { local ms=$(($(now_ms) - $1)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

record() { printf '%s %s %s\n' "$1" "$2" "$3" >>"$STATE"; }

# Values of records of one type (and optionally one host): `records pid lab-01`.
records() {
  [[ -f $STATE ]] || return 0
  awk -v t="$1" -v h="${2:-}" '$1 == t && (h == "" || $2 == h) { print $3 }' "$STATE"
}

# Host names that have any record (started completely or not).
recorded_hosts() {
  [[ -f $STATE ]] || return 0
  awk '$2 != "-" { print $2 }' "$STATE" | sort -u
}

forget_host() {
  [[ -f $STATE ]] || return 0
  awk -v h="$1" '$2 != h' "$STATE" >"$STATE.tmp" && mv "$STATE.tmp" "$STATE"
}

# True when PID is a systemd-nspawn the lab started for host NAME (guards against PID reuse).
is_lab_pid() {
  local pid=$1 name=$2
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == systemd-nspawn ]] || return 1
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF -- "--directory=$HOSTS_DIR/$name/merged"
}

# `SSH-` banner on ADDRESS:22 within one second.
ssh_answers() {
  local banner
  banner=$(timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/22" && head -c 4 <&3' "$1" 2>/dev/null) || return 1
  [[ $banner == SSH- ]]
}

is_mounted() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }
