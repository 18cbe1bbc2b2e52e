# Bridge and per-host lifecycle: network namespace, veth, overlay root, systemd-nspawn
# (sourced by scripts/lab.sh; every resource is recorded in .lab/state as soon as it exists).

# Refuses when the bridge, the subnet or a host's namespace exists but the state does not say the lab
# made it: it belongs to someone else (another checkout's lab, or a crashed run to clean up by hand).
check_foreign() {
  if ip link show "$BRIDGE" >/dev/null 2>&1 && [[ -z $(records bridge) ]]; then
    die "bridge $BRIDGE exists but this lab did not create it (another checkout's lab?); not touching it"
  fi
  local other
  other=$(ip -o -4 addr show | awk -v br="$BRIDGE" -v net="$SUBNET." '$2 != br && index($4, net) == 1 { print $2 " " $4 }')
  [[ -z $other ]] || die "subnet $SUBNET.0/24 is already used on this machine: $other"
  other=$(ip -4 route show | awk -v br="$BRIDGE" -v net="$SUBNET." 'index($1, net) == 1 && $0 !~ ("dev " br " ")')
  [[ -z $other ]] || die "a route into $SUBNET.0/24 exists that is not the lab's: $other"
}

ensure_bridge() {
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    return
  fi
  ip link add "$BRIDGE" type bridge
  record bridge - "$BRIDGE"
  ip addr add "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# Writes what makes a clone a host of its own into the overlay's upper layer: a fresh ed25519 host key,
# the client key for root and deploy, and /etc/hosts with its own name (sudo resolves it).
personalize() {
  local name=$1 root=$2 pub=$3 ids
  ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$root/etc/ssh/ssh_host_ed25519_key"
  install -d -m 0700 "$root/root/.ssh"
  install -m 0600 "$pub" "$root/root/.ssh/authorized_keys"
  ids=$(awk -F: '$1 == "deploy" { print $3 ":" $4 }' "$root/etc/passwd")
  install -d -m 0700 -o "${ids%:*}" -g "${ids#*:}" "$root/home/deploy/.ssh"
  install -m 0600 -o "${ids%:*}" -g "${ids#*:}" "$pub" "$root/home/deploy/.ssh/authorized_keys"
  printf '127.0.1.1\t%s\n' "$name" >>"$root/etc/hosts"
}

# Starts host NAME at ADDRESS from TEMPLATE with a fresh upper layer; prints nothing, records all.
launch_host() {
  local name=$1 address=$2 template=$3 pub=$4
  local dir="$HOSTS_DIR/$name" ns="hostop-$name" veth="hostopv${address##*.}"
  ip netns list | grep -q "^$ns\b" && die "network namespace $ns exists but is not recorded by this lab"
  is_mounted "$dir/merged" && die "$dir/merged is mounted but not recorded by this lab"
  rm -rf "$dir"
  mkdir -p "$dir/upper" "$dir/work" "$dir/merged"

  ip netns add "$ns"
  record netns "$name" "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  record link "$name" "$veth"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" addr add "$address/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "$GATEWAY"

  mount -t overlay overlay -o "lowerdir=$template,upperdir=$dir/upper,workdir=$dir/work" "$dir/merged"
  record mount "$name" "$dir/merged"
  personalize "$name" "$dir/merged" "$pub"

  # Own cgroups first (see cgroups.sh): the subshell joins them, then becomes nspawn by exec (same PID).
  # --register=no --keep-unit: the machine has no systemd/machined to register with. 9>&-: the host
  # must not inherit lab.sh's lock.
  local -a cgroups
  mapfile -t cgroups < <(make_host_cgroups "$name")
  (
    for cg in "${cgroups[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
    exec setsid systemd-nspawn --boot --directory="$dir/merged" --machine="$name" --register=no --keep-unit \
      --link-journal=no --network-namespace-path="/run/netns/$ns" --console=pipe
  ) >"$dir/console.log" 2>&1 </dev/null 9>&- &
  record pid "$name" "$!"
}

# Stops hosts: SIGTERM each recorded nspawn (a clean halt), after DEADLINE seconds SIGKILL whatever of
# the host is left (its cgroup's members), then unmount, delete namespace, veth and cgroups, forget it.
# Args: DEADLINE NAME...
stop_hosts() {
  local deadline=$1 name pid
  shift
  for name in "$@"; do
    for pid in $(records pid "$name"); do
      is_lab_pid "$pid" "$name" && { kill -TERM "$pid" 2>/dev/null || true; }
    done
  done
  local until=$(($(date +%s) + deadline)) killed=0
  local -a alive
  while :; do
    alive=()
    for name in "$@"; do
      [[ -z $(host_pids "$name") ]] || alive+=("$name")
    done
    ((${#alive[@]} == 0)) && break
    if (($(date +%s) >= until)); then
      ((killed == 0)) || die "host(s) survived SIGKILL: ${alive[*]}"
      log "killing ${#alive[@]} host(s) that did not halt within ${deadline}s: ${alive[*]} (logs in $LAB_OUT/logs)"
      mkdir -p "$LAB_OUT/logs"
      for name in "${alive[@]}"; do
        cp "$HOSTS_DIR/$name/console.log" "$LAB_OUT/logs/$name.console.log" 2>/dev/null || true
        ps -o pid,stat,wchan:24,args -p "$(host_pids "$name" | paste -sd,)" >"$LAB_OUT/logs/$name.ps" 2>&1 || true
        # shellcheck disable=SC2046 # one word per PID
        kill -KILL $(host_pids "$name") 2>/dev/null || true
      done
      killed=1
      until=$(($(date +%s) + 15))
    fi
    sleep 0.3
  done
  local mnt ns veth
  for name in "$@"; do
    for mnt in $(records mount "$name"); do
      is_mounted "$mnt" && { umount "$mnt" 2>/dev/null || umount -l "$mnt"; }
    done
    for veth in $(records link "$name"); do
      ip link del "$veth" 2>/dev/null || true
    done
    for ns in $(records netns "$name"); do
      ip netns del "$ns" 2>/dev/null || true
    done
    remove_host_cgroups "$name"
    rm -rf "/run/systemd/nspawn/propagate/$name" "${HOSTS_DIR:?}/$name"
    forget_host "$name"
  done
}

# Waits until every NAME=ADDRESS answers with an SSH banner; launches are windowed so that at most
# WINDOW hosts boot at once (a boot storm on two cores slows every host and risks start timeouts).
# Args: WINDOW TEMPLATE PUBKEY NAME=ADDRESS...
launch_and_wait() {
  local window=$1 template=$2 pub=$3
  shift 3
  local -a queue=("$@") booting=()
  local until=$(($(date +%s) + 120 + 3 * ${#queue[@]})) entry name pid
  while ((${#queue[@]} + ${#booting[@]} > 0)); do
    while ((${#booting[@]} < window && ${#queue[@]} > 0)); do
      entry=${queue[0]}
      queue=("${queue[@]:1}")
      launch_host "${entry%%=*}" "${entry#*=}" "$template" "$pub"
      booting+=("$entry")
    done
    local -a still=()
    for entry in "${booting[@]}"; do
      name=${entry%%=*}
      if ssh_answers "${entry#*=}"; then
        record host "$name" "${entry#*=}"
        continue
      fi
      pid=$(records pid "$name")
      if ! is_lab_pid "$pid" "$name"; then
        tail -n 15 "$HOSTS_DIR/$name/console.log" >&2 || true
        die "host $name exited while booting (see above)"
      fi
      still+=("$entry")
    done
    booting=("${still[@]}")
    (($(date +%s) < until)) || die "hosts did not answer on :22 in time: ${booting[*]%%=*}"
    ((${#booting[@]} == 0)) || sleep 0.3
  done
}
