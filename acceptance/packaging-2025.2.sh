#!/bin/sh
# Issue 4's acceptance, by hand: the six projects from staging installed together with apt
# in a throwaway chroot, checked against PACKAGING.md. Run as root after `venvpkg build`,
# `publish` and `test` of keystone nova glance neutron cinder placement on 2025.2:
#     sh acceptance/packaging-2025.2.sh WORKDIR
# Prints one PASS/FAIL line per check and exits non-zero on any FAIL.
set -eu
WORKDIR=$(realpath "${1:?usage: packaging-2025.2.sh WORKDIR}")
# The names in PACKAGING.md's table for these projects, and the venvs behind them.
PACKAGES="keystone python3-nova nova-common nova-api nova-conductor nova-scheduler
nova-compute nova-consoleproxy glance-api placement-api placement-common python3-placement
cinder-common cinder-api cinder-backup cinder-scheduler cinder-volume neutron-common
neutron-api neutron-rpc-server neutron-periodic-workers neutron-openvswitch-agent
neutron-dhcp-agent neutron-l3-agent neutron-metadata-agent neutron-ovn-metadata-agent
venv-keystone venv-nova venv-glance venv-placement venv-cinder venv-neutron"
SERVICES="keystone nova-api nova-api-metadata nova-conductor nova-scheduler nova-compute
nova-novncproxy nova-spicehtml5proxy nova-serialproxy glance-api placement-api cinder-api
cinder-backup cinder-scheduler cinder-volume neutron-api neutron-rpc-server
neutron-periodic-workers neutron-openvswitch-agent neutron-dhcp-agent neutron-l3-agent
neutron-metadata-agent neutron-ovn-metadata-agent"

ROOT=$(mktemp -d /var/tmp/venvpkg-acceptance.XXXXXX)
cleanup() {
    umount -R "$ROOT/proc" "$ROOT/dev" "$ROOT/srv/repo" 2>/dev/null || true
    rm -rf "$ROOT"
}
trap cleanup EXIT INT TERM
tar -xf "$WORKDIR/chroots/bookworm-amd64-test.tar" -C "$ROOT"
mkdir -p "$ROOT/srv/repo" "$ROOT/dev" "$ROOT/proc"
mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
mount --bind "$WORKDIR/repo" "$ROOT/srv/repo"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# Nothing may start in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d" && chmod +x "$ROOT/usr/sbin/policy-rc.d"
echo "deb [signed-by=/srv/repo/venvpkg-archive-keyring.gpg] file:///srv/repo bookworm-2025.2-staging main" \
    >"$ROOT/etc/apt/sources.list.d/venvpkg.list"
chroot "$ROOT" apt-get update -q >/dev/null
# shellcheck disable=SC2086
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    $PACKAGES >"$WORKDIR/logs/acceptance-install.log" 2>&1

cat >"$ROOT/tmp/checks.sh" <<'EOF'
failed=0
ok() { echo "PASS $*"; }
bad() { echo "FAIL $*"; failed=1; }
mode() { stat -c '%U:%G %a' "$1" 2>&1; }
for p in $PACKAGES; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && ok "package $p" || bad "package $p"
done
for s in $SERVICES; do
    unit=/lib/systemd/system/$s.service
    out=$(SYSTEMD_LOG_LEVEL=err systemd-analyze verify "$unit" 2>&1) && ok "unit $s verifies" || bad "unit $s: $out"
done
for pair in nova:64060 cinder:64061 glance:64062; do
    user=${pair%:*}
    [ "$(getent passwd "$user" | cut -d: -f3,6,7)" = "${pair#*:}:/var/lib/$user:/usr/sbin/nologin" ] \
        && ok "user $user uid ${pair#*:}, home, nologin" || bad "user $user: $(getent passwd "$user")"
done
for p in keystone nova glance neutron cinder placement; do
    conf=/etc/$p/$p.conf; [ "$p" = glance ] && conf=/etc/glance/glance-api.conf
    [ "$(mode /etc/$p)" = "root:$p 750" ] && ok "/etc/$p root:$p 0750" || bad "/etc/$p $(mode /etc/$p)"
    [ "$(mode "$conf")" = "root:$p 640" ] && ok "$conf root:$p 0640" || bad "$conf $(mode "$conf")"
    su -s /bin/sh "$p" -c "touch /opt/venvs/$p/x /opt/venvs/$p/bin/x" 2>/dev/null \
        && bad "venv $p writable by $p" || ok "venv $p not writable by $p"
done
out=$(/usr/bin/nova-manage --version 2>&1) && ok "nova-manage --version: $out" || bad "nova-manage: $out"
/usr/bin/keystone-manage --help >/dev/null 2>&1 && ok "keystone-manage --help" || bad "keystone-manage --help"
for f in /etc/keystone/keystone-uwsgi.ini /etc/keystone/policy.yaml /etc/nova/api-paste.ini \
    /etc/nova/rootwrap.conf /etc/nova/policy.yaml /etc/default/nova-consoleproxy \
    /usr/bin/glance-wsgi-api /var/lock/glance /var/lock/cinder \
    /usr/lib/python3/dist-packages/nova/wsgi/osapi_compute.py \
    /usr/lib/python3/dist-packages/nova/wsgi/metadata.py \
    /usr/lib/python3/dist-packages/cinder/wsgi/api.py; do
    [ -e "$f" ] && ok "exists $f" || bad "missing $f"
done
exit $failed
EOF
chroot "$ROOT" env PACKAGES="$PACKAGES" SERVICES="$SERVICES" sh /tmp/checks.sh
