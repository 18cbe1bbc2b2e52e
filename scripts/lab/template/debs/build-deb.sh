#!/usr/bin/env bash
# Builds a stand-in .deb for a component Debian does not package: PACKAGE VERSION OUTDIR.
# Each mirrors the real release package's files, unit and maintainer-script behaviour that hostop relies on;
# only the program is our stand-in (standin.py, which reads its version from the file the package ships).
#
# otelcol-contrib: open-telemetry/opentelemetry-collector-releases distributions/otelcol-contrib/
#   otelcol-contrib.service, otelcol-contrib.conf, postinstall.sh, .goreleaser.yaml:
#   config at /etc/otelcol-contrib/config.yaml (conffile), EnvironmentFile with OTELCOL_OPTIONS, unit in
#   /lib/systemd/system, User=otelcol-contrib. ExecReload=/bin/kill -HUP $MAINPID came with PR #887 and first
#   shipped in v0.125.0: below that `systemctl reload otelcol-contrib` fails ("Job type reload is not applicable").
# tempo: grafana/tempo tools/packaging/tempo.service: ExecStart=/usr/bin/tempo -config.file /etc/tempo/config.yml,
#   User=tempo, no ExecReload (restart only).
set -euo pipefail
PKG=${1:?usage: build-deb.sh PACKAGE VERSION OUTDIR}
VERSION=${2:?}
OUT=${3:?}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

atleast() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

mkdir -p "$root/DEBIAN" "$root/lib/systemd/system" "$root/usr/bin" "$root/usr/lib/hostop-standin/version"
printf '%s\n' "$VERSION" >"$root/usr/lib/hostop-standin/version/$PKG"
ln -s ../lib/hostop-standin/standin.py "$root/usr/bin/$PKG"

case $PKG in
otelcol-contrib)
  mkdir -p "$root/etc/otelcol-contrib"
  install -m 0644 "$HERE/otelcol-contrib/config.yaml" "$root/etc/otelcol-contrib/config.yaml"
  printf '%s\n' '# Customized options for /usr/bin/otelcol-contrib' \
    'OTELCOL_OPTIONS="--config=/etc/otelcol-contrib/config.yaml"' >"$root/etc/otelcol-contrib/otelcol-contrib.conf"
  reload=
  atleast "$VERSION" 0.125.0 && reload='ExecReload=/bin/kill -HUP $MAINPID'
  cat >"$root/lib/systemd/system/otelcol-contrib.service" <<UNIT
[Unit]
Description=OpenTelemetry Collector Contrib
After=network.target

[Service]
EnvironmentFile=/etc/otelcol-contrib/otelcol-contrib.conf
ExecStart=/usr/bin/otelcol-contrib \$OTELCOL_OPTIONS
${reload}
KillMode=mixed
Restart=on-failure
Type=simple
User=otelcol-contrib
Group=otelcol-contrib

[Install]
WantedBy=multi-user.target
UNIT
  printf '%s\n' /etc/otelcol-contrib/config.yaml /etc/otelcol-contrib/otelcol-contrib.conf >"$root/DEBIAN/conffiles"
  desc='OpenTelemetry Collector Contrib (hostop lab stand-in)'
  ;;
tempo)
  mkdir -p "$root/etc/tempo"
  install -m 0644 "$HERE/tempo/config.yml" "$root/etc/tempo/config.yml"
  cat >"$root/lib/systemd/system/tempo.service" <<'UNIT'
[Unit]
Description=Tempo service
Documentation=https://grafana.com/docs/tempo/latest/
Wants=network-online.target
After=network-online.target

[Service]
User=tempo
ExecStart=/usr/bin/tempo -config.file /etc/tempo/config.yml
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
  printf '%s\n' /etc/tempo/config.yml >"$root/DEBIAN/conffiles"
  desc='Grafana Tempo (hostop lab stand-in)'
  ;;
*) echo "no stand-in package for $PKG" >&2; exit 2 ;;
esac

cat >"$root/DEBIAN/control" <<CONTROL
Package: $PKG
Version: $VERSION
Architecture: all
Maintainer: hostop lab <lab@hostop.invalid>
Depends: python3, python3-yaml
Description: $desc
CONTROL
# Like the release packages' postinstall: enable the unit; restart it when systemd runs (an upgrade
# takes effect at once). In the template's chroot systemd is not running, so only the enable happens.
cat >"$root/DEBIAN/postinst" <<POSTINST
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable $PKG.service >/dev/null 2>&1 || true
  systemctl restart $PKG.service || true
else
  systemctl enable $PKG.service >/dev/null 2>&1 || true
fi
POSTINST
chmod 0755 "$root/DEBIAN/postinst"
mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$OUT/${PKG}_${VERSION}_all.deb" >/dev/null
