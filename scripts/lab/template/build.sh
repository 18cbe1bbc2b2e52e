#!/usr/bin/env bash
# Builds the lab's template root filesystem into ROOTFS (which must not exist).
# Every file under scripts/lab/template/ is part of the recipe: the template cache key is the sha256 of
# them all, so editing any of them makes `lab.sh up` rebuild the template.
# The template is never booted (a boot would leave a journal and an identity that every clone copies).
set -euo pipefail

ROOTFS=${1:?usage: build.sh ROOTFS MIRROR}
MIRROR=${2:?usage: build.sh ROOTFS MIRROR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PACKAGES=(
  systemd systemd-sysv dbus openssh-server iproute2 coreutils sudo curl inotify-tools
  python3 python3-yaml prometheus
  php8.2-fpm libfcgi-bin
)

in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" bookworm "$ROOTFS" "$MIRROR"

# Stand-in services: one python program, dispatched by the name it is called as.
install -D -m 0755 "$HERE/standin.py" "$ROOTFS/usr/lib/hostop-standin/standin.py"
ln -sf /usr/lib/hostop-standin/standin.py "$ROOTFS/usr/sbin/grafana-server"
ln -sf /usr/lib/hostop-standin/standin.py "$ROOTFS/usr/bin/litellm"
install -D -m 0755 "$HERE/claude" "$ROOTFS/usr/local/bin/claude"
# The FastAPI services' virtualenvs: uvicorn, and the Python SDK's launcher as opentelemetry-distro installs it.
for app in orders-api billing-api; do
  install -D -m 0755 "$HERE/uvicorn" "$ROOTFS/opt/$app/venv/bin/uvicorn"
  install -D -m 0755 "$HERE/opentelemetry-instrument" "$ROOTFS/opt/$app/venv/bin/opentelemetry-instrument"
done
for unit in "$HERE"/units/*.service; do
  install -m 0644 "$unit" "$ROOTFS/etc/systemd/system/$(basename "$unit")"
done

# Static files (configs, drop-ins) are laid out under files/ exactly as on the host.
cp -a --no-preserve=ownership "$HERE/files/." "$ROOTFS/"
chmod 0440 "$ROOTFS/etc/sudoers.d/deploy"
chmod 0755 "$ROOTFS/etc/hostop-standin"

# Service accounts as the real packages create them; `deploy` is the transport's sudo -n user.
in_root adduser --system --group --no-create-home --home /nonexistent otelcol-contrib
in_root adduser --system --group --home /var/lib/tempo tempo
in_root adduser --system --group --home /usr/share/grafana grafana
in_root useradd --create-home --shell /bin/bash deploy

# otelcol-contrib and tempo come as packages, as on real hosts (their release .debs), so `dpkg-query` sees the
# installed version and an upgrade is a real `dpkg -i`. Other versions wait in /var/cache/hostop-lab/ for tests.
debs="$ROOTFS/var/cache/hostop-lab"
for pv in otelcol-contrib:0.123.0 otelcol-contrib:0.125.0 otelcol-contrib:0.144.0 tempo:2.8.1 tempo:3.0.0; do
  bash "$HERE/debs/build-deb.sh" "${pv%%:*}" "${pv#*:}" "$debs"
done
in_root dpkg -i /var/cache/hostop-lab/otelcol-contrib_0.123.0_all.deb /var/cache/hostop-lab/tempo_2.8.1_all.deb
in_root passwd --lock deploy
mkdir -p "$ROOTFS/etc/grafana/provisioning/datasources" "$ROOTFS/etc/grafana/provisioning/dashboards" "$ROOTFS/var/lib/grafana/dashboards" \
  "$ROOTFS/etc/claude-code/managed-settings.d" "$ROOTFS/var/tempo"
in_root chown -R tempo:tempo /var/tempo /var/lib/tempo
in_root chown -R grafana:grafana /var/lib/grafana

in_root systemctl enable otelcol-contrib.service tempo.service grafana-server.service \
  orders-api.service billing-api.service litellm.service php8.2-fpm.service prometheus.service ssh.service
# The legacy PHP app's own pool and document root (the app's files, not hostop's).
in_root chown -R www-data:www-data /srv/legacy-shop
in_root systemctl mask console-getty.service getty@.service systemd-logind.service \
  systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer

# Identity: each clone gets its own hostname (from nspawn -M), machine id and ssh host key.
rm -f "$ROOTFS/etc/hostname" "$ROOTFS/var/lib/dbus/machine-id" "$ROOTFS"/etc/ssh/ssh_host_*
: >"$ROOTFS/etc/machine-id"

# Shrink: the package cache and lists are not needed on the hosts.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log
