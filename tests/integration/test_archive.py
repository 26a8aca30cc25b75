"""Debian's split read from a mirror, for real: a signed InRelease, Packages by hash,
.debs built here with dpkg-deb, served on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import lzma
import subprocess
from pathlib import Path

import pytest

from tests.fixtures import packages
from venvpkg.debianize import archive
from venvpkg.errors import DataError, NetworkError

UNIT = "[Service]\nExecStart=/etc/init.d/fixd-worker systemd-start\n"
INIT = '#!/bin/sh\nPROJECT_NAME=fixd\nNAME=${PROJECT_NAME}-worker\nDAEMON_ARGS="--role worker"\n'
API_INIT = "#!/bin/sh\nNAME=fixd-api\nUWSGI_PORT=8123\nUWSGI_INI_APP=/usr/bin/fixd-wsgi\n"


def _deb(pool: Path, name: str, files: dict[str, str]) -> Path:
    root = pool / f"{name}-root"
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        f"Source: fixd\nDescription: test\n"
    )
    deb = pool / f"{name}_1.0-1_all.deb"
    subprocess.run(
        ["dpkg-deb", "--build", "-Zxz", str(root), str(deb)], check=True, capture_output=True
    )
    return deb


def _key(home: Path) -> Path:
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--passphrase", ""]
    subprocess.run(
        [*gpg, "--quick-gen-key", "mirror <m@example.org>", "ed25519", "sign", "1d"],
        check=True,
        capture_output=True,
    )
    keyring = home / "mirror.gpg"
    subprocess.run([*gpg, "--output", str(keyring), "--export"], check=True, capture_output=True)
    return keyring


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, Path]:
    """A Debian-shaped mirror of one source, fixd, signed with a key of the test's own."""
    root = tmp_path / "mirror"
    pool = root / "pool/main/f/fixd"
    pool.mkdir(parents=True)
    debs = [
        _deb(pool, "fixd-common", {"usr/bin/fixd-manage": "", "etc/fixd/fixd.conf": ""}),
        _deb(
            pool,
            "fixd-worker",
            {"lib/systemd/system/fixd-worker.service": UNIT, "etc/init.d/fixd-worker": INIT},
        ),
        _deb(pool, "fixd-api", {"etc/init.d/fixd-api": API_INIT}),
        _deb(pool, "python3-fixd", {"usr/bin/fixd-wsgi": ""}),
        _deb(pool, "fixd-doc", {"usr/share/doc/fixd-doc/index.html": ""}),
    ]
    stanzas = []
    for deb in debs:
        control = subprocess.run(
            ["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True
        ).stdout
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        relative = deb.relative_to(root)
        size = deb.stat().st_size
        stanzas.append(f"{control.strip()}\nFilename: {relative}\nSize: {size}\nSHA256: {digest}\n")
    index = lzma.compress("\n".join(stanzas).encode())
    digest = hashlib.sha256(index).hexdigest()
    dists = root / "dists/trixie/main/binary-amd64"
    (dists / "by-hash/SHA256").mkdir(parents=True)
    (dists / "by-hash/SHA256" / digest).write_bytes(index)
    release = (
        f"Codename: trixie\nDate: Sat, 21 Nov 2026 09:15:44 UTC\nSHA256:\n"
        f" {digest} {len(index)} main/binary-amd64/Packages.xz\n"
    )
    keyring = _key(tmp_path / "gnupg")
    (root / "dists/trixie/Release").write_text(release)
    subprocess.run(
        ["gpg", "--homedir", str(tmp_path / "gnupg"), "--batch", "--clearsign", "--output",
         str(root / "dists/trixie/InRelease"), str(root / "dists/trixie/Release")],
        check=True, capture_output=True,
    )  # fmt: skip
    return root, keyring


def test_the_split_is_read_from_a_signed_mirror_and_the_packages_themselves(
    mirror: tuple[Path, Path], tmp_path: Path
) -> None:
    root, keyring = mirror
    cache = tmp_path / "cache"
    with packages.serve(root) as url:
        base = url.removesuffix("simple/")
        written = archive.refresh("trixie", base, cache, {"fixd"}, keyring)
    data = json.loads(written.read_text())
    assert data["date"] == "Sat, 21 Nov 2026 09:15:44 UTC"
    found = archive.load("trixie", cache).sources["fixd"]
    binaries = {b.name: b for b in found.binaries}
    assert set(binaries) == {"fixd-common", "fixd-worker", "fixd-api", "python3-fixd", "fixd-doc"}
    assert binaries["fixd-common"].tools == ("fixd-manage",)
    assert "/etc/fixd/fixd.conf" in binaries["fixd-common"].etc
    # The unit starts an init script; the init script names the daemon and its arguments.
    assert dict(binaries["fixd-worker"].units)["fixd-worker.service"] == {
        "exec": "/usr/bin/fixd-worker",
        "args": "--role worker",
    }
    # An init script without a unit runs as one; uwsgi's port and application come along.
    assert dict(binaries["fixd-api"].units)["fixd-api.service"] == {
        "uwsgi": True,
        "port": 8123,
        "wsgi_app": "/usr/bin/fixd-wsgi",
    }


def test_a_mirror_whose_signature_or_files_do_not_check_is_refused(
    mirror: tuple[Path, Path], tmp_path: Path
) -> None:
    root, keyring = mirror
    inrelease = root / "dists/trixie/InRelease"
    signed = inrelease.read_text()
    inrelease.write_text(signed.replace("Codename: trixie", "Codename: trixiE"))
    with packages.serve(root) as url, pytest.raises(DataError, match="signature does not check"):
        archive.refresh("trixie", url.removesuffix("simple/"), tmp_path / "c", {"fixd"}, keyring)
    inrelease.write_text(signed)
    deb = next((root / "pool").rglob("fixd-common_*.deb"))
    deb.write_bytes(deb.read_bytes() + b"tampered")
    with packages.serve(root) as url, pytest.raises(NetworkError, match="does not match Packages"):
        archive.refresh("trixie", url.removesuffix("simple/"), tmp_path / "c", {"fixd"}, keyring)
    assert not (tmp_path / "c" / "trixie.json").exists()
