#!/bin/sh
# Runs inside a throwaway chroot made by `venvpkg test`: install, upgrade, downgrade,
# upgrade again and purge packages from the signed repository, as apt on a node would.
# Each step is reported as "VENVPKG-STEP NAME ok|fail DETAIL"; venvpkg reads nothing else.
#   lifecycle.sh STAGING-CODENAME PREVIOUS-CODENAME "pkg=ver ..." "pkg=ver ..."
set -u
STAGING=$1
PREVIOUS_CODENAME=$2
STAGED=$3
PREVIOUS=$4
REPO=/srv/venvpkg-repo
KEY=$REPO/venvpkg-archive-keyring.gpg
export DEBIAN_FRONTEND=noninteractive
# sudo (nova-common's rootwrap needs it) refuses removal when root has no password, which
# a throwaway chroot never has; a node keeps sudo anyway.
export SUDO_FORCE_REMOVE=yes

step() { echo "VENVPKG-STEP $1 $2 ${3:-}"; }
names() { for spec in $1; do printf '%s ' "${spec%%=*}"; done; }
# Keep the operator's config on upgrade, as apt does when nobody answers. Like piuparts,
# no Recommends: autoremove keeps a recommended library (openssh-client's libfido2) that
# something left installed still recommends, which the comparison would call left behind.
apt_get() {
    apt-get -q -y -o Dpkg::Options::=--force-confold -o APT::Install-Recommends=false \
        "$@" >/tmp/apt.out 2>&1 && return 0
    tail -20 /tmp/apt.out
    return 1
}
# What piuparts compares: every file outside the virtual, volatile and bookkeeping trees.
inventory() {
    find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
        -o -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log \
        -o -path "$REPO" -o -path /etc/apt/sources.list.d -o -path /var/lib/systemd \
        -o -path /etc/ld.so.cache -o -name '*-old' -o -path '/etc/*-' \) -prune -o -print | sort
}

echo "deb [signed-by=$KEY] file:$REPO $STAGING main" >/etc/apt/sources.list.d/venvpkg-staging.list
echo "deb [signed-by=$KEY] file:$REPO $PREVIOUS_CODENAME main" >/etc/apt/sources.list.d/venvpkg-previous.list
apt-get update -q >/tmp/update.out 2>&1
if grep -q '^[WE]:' /tmp/update.out; then
    step apt-trusts-repository fail "$(grep '^[WE]:' /tmp/update.out | head -2 | tr '\n' ' ')"
    exit 0
fi
step apt-trusts-repository ok "signed-by $KEY"
inventory >/tmp/before
packages() { dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" {print $2}' | sort; }
packages >/tmp/packages-before

if [ -n "$PREVIOUS" ]; then
    if apt_get install $PREVIOUS; then step install-previous ok "$(echo "$PREVIOUS" | wc -w) packages"; else step install-previous fail; fi
    # An operator edits the config the packages created; the upgrade must keep the edit.
    inventory >/tmp/installed
    comm -13 /tmp/before /tmp/installed | grep -E '^/etc/.*\.(conf|ini|yaml)$' >/tmp/configs || true
    while read -r config; do echo "# edited by the operator" >>"$config"; done </tmp/configs
fi

if apt_get install $STAGED; then
    step install ok "$(echo "$STAGED" | wc -w) packages"
else
    step install fail
    exit 0
fi

if [ -s /tmp/configs ] 2>/dev/null; then
    lost=""
    while read -r config; do grep -q '^# edited by the operator$' "$config" || lost="$lost $config"; done </tmp/configs
    if [ -z "$lost" ]; then step config-kept ok "$(wc -l </tmp/configs) files"; else step config-kept fail "$lost"; fi
fi

units=$(dpkg -L $(names "$STAGED") 2>/dev/null | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.service$' | sort -u)
if [ -n "$units" ]; then
    if out=$(systemd-analyze verify $units 2>&1); then
        step units-valid ok "$(echo "$units" | wc -l) units"
    else
        step units-valid fail "$(echo "$out" | head -3 | tr '\n' ' ')"
    fi
fi

writable=""
for venv in /opt/venvs/*; do
    [ -d "$venv" ] || continue
    found=$(find "$venv" \( ! -user root -o -perm -g+w -o -perm -o+w \) ! -type l -print -quit)
    [ -z "$found" ] || writable="$writable $found"
done
if [ -z "$writable" ]; then step venvs-read-only ok; else step venvs-read-only fail "$writable"; fi

# Back down to production (a rollback), then up again: the purge that follows must be
# staging's own. Production's postrm may predate files staging added; that is not a
# reason to keep staging out of production.
if [ -n "$PREVIOUS" ]; then
    if apt_get install --allow-downgrades $PREVIOUS; then step downgrade ok; else step downgrade fail; fi
    if apt_get install $STAGED; then step upgrade-again ok; else step upgrade-again fail; fi
fi

# apt never autoremoves an "Important: yes" package (trixie's passwd, which adduser pulls
# in); what our packages pulled in goes with them, by name.
purge_pulled_in() {
    packages >/tmp/packages-after
    pulled=$(comm -13 /tmp/packages-before /tmp/packages-after)
    [ -z "$pulled" ] || apt_get purge $pulled
}
# systemd (here to verify units) suggests libfido2, which apt would then keep; nothing
# suggested or recommended by what stays may hide what our packages pulled in.
if apt_get purge $(names "$STAGED") && apt_get autoremove --purge \
    -o APT::AutoRemove::SuggestsImportant=false -o APT::AutoRemove::RecommendsImportant=false \
    && purge_pulled_in; then
    step purge ok
else
    step purge fail
fi
# apache2 and libapache2-mod-wsgi-py3 purged together leave /var/lib/apache2 empty (the
# module's removal writes state after apache2-bin's): Debian's own, with or without ours.
rmdir /var/lib/apache2 2>/dev/null || true
inventory >/tmp/after
left=$(comm -13 /tmp/before /tmp/after | head -20 | tr '\n' ' ')
if [ -z "$left" ]; then step nothing-left-after-purge ok; else step nothing-left-after-purge fail "$left"; fi
