# Host packages and the cached template root (sourced by scripts/lab.sh).

TEMPLATE_RECIPE="$REPO_ROOT/scripts/lab/template"

ensure_host_packages() {
  local missing=0 cmd
  for cmd in debootstrap systemd-nspawn ip ssh ssh-keygen; do
    command -v "$cmd" >/dev/null || missing=1
  done
  ((missing)) || return 0
  log "installing host packages (debootstrap systemd-container iproute2 openssh-client)"
  # Other engineers may hold the dpkg lock for a while: wait for it rather than fail.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    debootstrap systemd-container iproute2 openssh-client >/dev/null
}

# The machine's own Debian mirror (deb822 sources first, then sources.list).
debian_mirror() {
  local url
  url=$(awk '
    /^URIs:/ { uris = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") ok = 1 }
    /^[[:space:]]*$/ { if (ok && uris) { print uris; exit } ok = 0; uris = "" }
    END { if (ok && uris) print uris }' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  [[ -n $url ]] || url=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  echo "${url:-http://deb.debian.org/debian}"
}

# sha256 over the recipe's paths and contents: any change to scripts/lab/template/ means a new template.
template_hash() {
  (cd "$TEMPLATE_RECIPE" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
    sha256sum | cut -c1-16
}

# Prints the template directory for the current recipe, building it if it is not cached.
ensure_template() {
  local dir="$CACHE_DIR/template-$(template_hash)"
  if [[ -d $dir ]]; then
    echo "$dir"
    return
  fi
  local build="$CACHE_DIR/build-${dir##*-}" mirror start
  mirror=$(debian_mirror)
  start=$(now_ms)
  log "building template $dir from $mirror (about a minute; log: $build.log)"
  mkdir -p "$CACHE_DIR"
  rm -rf "$build"
  if ! bash "$TEMPLATE_RECIPE/build.sh" "$build" "$mirror" >"$build.log" 2>&1; then
    tail -n 20 "$build.log" >&2
    die "template build failed (full log: $build.log)"
  fi
  mv "$build" "$dir"
  rm -f "$build.log"
  log "template built in $(elapsed "$start") ($(du -sh "$dir" | cut -f1))"
  echo "$dir"
}

# Removes cached templates other than KEEP (call only when no running host uses them).
remove_old_templates() {
  local keep=$1 old
  for old in "$CACHE_DIR"/template-*; do
    [[ -d $old && $old != "$keep" ]] || continue
    log "removing old template $old"
    rm -rf "$old"
  done
}
