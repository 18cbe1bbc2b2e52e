# What the lab hands to its users under .lab/: client key, hosts.yaml, known_hosts, ssh_config
# (sourced by scripts/lab.sh). Files are written to a temporary name and renamed, so a reader never
# sees half a file.

ensure_client_key() {
  mkdir -p "$LAB_OUT"
  [[ -f $LAB_OUT/id_ed25519 ]] && return
  ssh-keygen -q -t ed25519 -N '' -C hostop-lab -f "$LAB_OUT/id_ed25519"
}

# The host's real ed25519 public key, without the trailing comment.
host_key() {
  awk '{ print $1 " " $2 }' "$HOSTS_DIR/$1/upper/etc/ssh/ssh_host_ed25519_key.pub"
}

# Args: lines "NAME ADDRESS LABELS_JSON" on stdin.
write_outputs() {
  local key="$LAB_OUT/id_ed25519" name address labels hostkey
  local yaml="$LAB_OUT/hosts.yaml.tmp" known="$LAB_OUT/known_hosts.tmp" config="$LAB_OUT/ssh_config.tmp"
  : >"$yaml"
  : >"$known"
  printf '# Written by scripts/lab.sh: ssh -F %s NAME CMD\n' "$LAB_OUT/ssh_config" >"$config"
  local first=1
  while read -r name address labels; do
    hostkey=$(host_key "$name")
    ((first)) || echo '---' >>"$yaml"
    first=0
    # Labels are JSON, which is YAML flow syntax.
    cat >>"$yaml" <<EOF
apiVersion: hostop.dev/v1alpha1
kind: Host
metadata:
  name: $name
  labels: $labels
spec:
  address: $address
  port: 22
  user: root
  hostKey: "$hostkey"
  identityFile: "$key"
EOF
    printf '%s,%s %s\n' "$name" "$address" "$hostkey" >>"$known"
    printf 'Host %s\n  HostName %s\n' "$name" "$address" >>"$config"
  done
  cat >>"$config" <<EOF

Host *
  User root
  Port 22
  IdentityFile "$key"
  IdentitiesOnly yes
  UserKnownHostsFile "$LAB_OUT/known_hosts"
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  CheckHostIP no
  HostKeyAlgorithms ssh-ed25519
  BatchMode yes
  ForwardAgent no
  ForwardX11 no
  ConnectTimeout 10
  LogLevel ERROR
EOF
  mv "$yaml" "$LAB_OUT/hosts.yaml"
  mv "$known" "$LAB_OUT/known_hosts"
  mv "$config" "$LAB_OUT/ssh_config"
}

remove_outputs() {
  rm -f "$LAB_OUT/hosts.yaml" "$LAB_OUT/known_hosts" "$LAB_OUT/ssh_config" "$LAB_OUT/STABLE"
}
