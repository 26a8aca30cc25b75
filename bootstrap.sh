#!/bin/sh
# Install what venvpkg needs on Debian (bookworm or newer), as root, into ./.venv.
#   ./bootstrap.sh        the tool and the Debian packaging tools it drives
#   ./bootstrap.sh test   the same plus the test and lint tools
set -eu
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-dev build-essential git ca-certificates \
    dpkg-dev debhelper fakeroot lintian dh-virtualenv sbuild mmdebstrap uidmap \
    reprepro gnupg autopkgtest patchelf netbase >/dev/null
# A host pip configuration (pip.conf, PIP_FIND_LINKS) must not leak into our environment.
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
if [ "${1:-}" = test ]; then
    # The tests install the packages they build (API services depend on uwsgi) and check
    # their units with systemd-analyze.
    apt-get install -y -qq --no-install-recommends uwsgi-core uwsgi-plugin-python3 systemd file >/dev/null
    .venv/bin/pip install -q -e '.[test,lint,farm]'
    # The tests' package index serves the uv wheel venvpkg pins, as PyPI does.
    uv=$(.venv/bin/python -c 'from venvpkg.release.plan import INSTALLER as I; print(f"{I[0]}=={I[1]}")')
    .venv/bin/pip download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
        --dest .venv/share/venvpkg-tests "$uv"
else
    .venv/bin/pip install -q .
fi
