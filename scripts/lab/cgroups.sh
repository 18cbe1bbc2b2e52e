# One cgroup per host (sourced by scripts/lab.sh).
#
# Without machined, `systemd-nspawn --keep-unit` uses the cgroup it was started in as the container's
# root. Started from one shell, every host would share it: their systemds then create and delete the
# same /payload/system.slice/UNIT groups, and units fail at random with `status=219/CGROUP`
# ("Failed to attach to cgroup ... No such file or directory"), halts included. So each nspawn is moved
# into its own group, in the hierarchies systemd tracks units with (v1 name=systemd and cgroup2), before
# it starts. The group also holds every process of the host, which makes "is anything of it left"
# and "kill what is left" exact.

# Directories under which the per-host groups go: our own group in each tracking hierarchy.
cgroup_bases() {
  local v1 v2
  v1=$(awk -F: '$2 == "name=systemd" { print $3 }' /proc/self/cgroup)
  v2=$(awk -F: '$1 == "0" && $2 == "" { print $3 }' /proc/self/cgroup)
  awk -v p1="$v1" -v p2="$v2" '{
      split($0, halves, " - "); split(halves[1], l, " "); split(halves[2], r, " ")
      if (r[1] == "cgroup" && r[3] ~ /(^|,)name=systemd(,|$)/) print l[5] p1
      else if (r[1] == "cgroup2") print l[5] p2
    }' /proc/self/mountinfo | sed 's#/*$##'
}

# Creates host NAME's groups, records them, prints them (one a line).
make_host_cgroups() {
  local name=$1 base dir
  for base in $(cgroup_bases); do
    dir="$base/hostop-lab/$name"
    mkdir -p "$dir"
    record cgroup "$name" "$dir"
    echo "$dir"
  done
}

# Every process of host NAME still alive: members of its groups, and its nspawn if recorded.
host_pids() {
  local name=$1 cg pid
  {
    for cg in $(records cgroup "$name"); do
      [[ -d $cg ]] && find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
    done
    for pid in $(records pid "$name"); do
      is_lab_pid "$pid" "$name" && echo "$pid"
    done
  } | sort -un
}

remove_host_cgroups() {
  local name=$1 cg
  for cg in $(records cgroup "$name"); do
    [[ -d $cg ]] || continue
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || log "warning: could not remove cgroup $cg"
    rmdir "$(dirname "$cg")" 2>/dev/null || true # the shared hostop-lab group, once empty
  done
}

# Lab groups left on the machine (any depth a caller's own group could put them at).
leftover_cgroups() {
  local base mnt
  for base in $(cgroup_bases); do
    mnt=$(findmnt -n -o TARGET --target "$base")
    find "$mnt" -maxdepth 8 -type d -name hostop-lab 2>/dev/null
  done | sort -u
}
