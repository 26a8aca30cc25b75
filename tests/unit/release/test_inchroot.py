"""The venvpkg run inside another release's chroot sees only what it should."""

from __future__ import annotations

from venvpkg.release import inchroot


def test_venvpkg_in_a_chroot_sees_our_source_date_epoch_and_no_pip_config() -> None:
    outside = {"SOURCE_DATE_EPOCH": "1756684800", "PIP_FIND_LINKS": "/wheels", "HOME": "/root"}
    inside = inchroot.venvpkg_env(outside)
    assert inside["SOURCE_DATE_EPOCH"] == "1756684800"
    assert inside["PIP_CONFIG_FILE"] == "/dev/null"
    assert "PIP_FIND_LINKS" not in inside and "HOME" not in inside
    assert "SOURCE_DATE_EPOCH" not in inchroot.venvpkg_env({})
