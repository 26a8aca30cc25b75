"""debianize and build a fixture project for real: dh-virtualenv, dpkg, lintian, apt."""

from __future__ import annotations

import filecmp
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import release_fixsvc, venvpkg
from venvpkg.sysdeps import APT_WAIT

GOLDEN = Path(__file__).parent.parent / "golden" / "fixsvc-debian"
SOURCE = "src/bookworm-2025.2/venv-fixsvc-1.0"
FIXSVC_PACKAGES = ("fixsvc-api", "fixsvc-engine", "fixsvc-common", "python3-fixsvc", "venv-fixsvc")
ARGS = ("fixsvc", "--series", "2025.2", "--version", "1.0", "--dist", "bookworm")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="installs packages on this host")


@pytest.fixture(scope="module")
def released(index_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workdir holding the fixture series' requirements package with fixsvc's closure."""
    return release_fixsvc(tmp_path_factory.mktemp("debianize"), index_url)


def _normalised(text: str) -> str:
    """The requirements package version carries the test data's date, and so does the
    compiled fixture wheel's digest (the data are a plain directory, dated by its newest
    file: the day of the checkout), along with the host's compiler, so digests are checked
    against the wheels instead."""
    text = re.sub(r"http://127\.0\.0\.1:\d+/simple/", "INDEX", text)
    text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:DIGEST", text)
    return re.sub(r"\d{8}\.\d+\.[0-9a-f]{8}\+deb12", "DATE.N.CONTENT+deb12", text)


def _digests_name_the_wheelhouse_wheels(lock: str, wheelhouse: Path) -> None:
    pinned = re.findall(r"^(\S+)==(\S+) \\\n\s+--hash=sha256:([0-9a-f]{64})", lock, re.M)
    assert pinned
    for name, version, digest in pinned:
        (wheel,) = wheelhouse.glob(f"{name.replace('-', '_')}-{version}-*.whl")
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == digest, wheel.name


def test_rendered_tree_matches_the_golden_files(released: Path, index_url: str) -> None:
    env_epoch = {"SOURCE_DATE_EPOCH": "1767225600"}
    venvpkg("debianize", *ARGS, workdir=released, index=index_url, env=env_epoch)
    debian = released / SOURCE / "debian"
    produced = sorted(p.relative_to(debian).as_posix() for p in debian.rglob("*") if p.is_file())
    expected = sorted(p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*") if p.is_file())
    if os.environ.get("VENVPKG_UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for name in produced:
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text(_normalised((debian / name).read_text()))
        expected = produced
    assert produced == expected
    for name in produced:
        assert _normalised((debian / name).read_text()) == (GOLDEN / name).read_text(), name
    wheelhouse = released / "wheelhouse/bookworm-2025.2"
    _digests_name_the_wheelhouse_wheels((debian / "requirements.lock").read_text(), wheelhouse)
    assert (released / "src/bookworm-2025.2/venv-fixsvc_1.0.orig.tar.gz").is_file()
    assert list((released / "src/bookworm-2025.2").glob("venv-fixsvc_1.0-1+deb12.dsc"))
    assert filecmp.cmp(debian / "rules", GOLDEN / "rules", shallow=False)


def test_unknown_project_suggests_close_names(released: Path) -> None:
    failed = venvpkg("debianize", "keystne", "--series", "2025.2", workdir=released, check=False)
    assert failed.returncode == 2
    assert "unknown project 'keystne'" in failed.stderr and "keystone" in failed.stderr
    assert "Traceback" not in failed.stderr


@pytest.mark.parametrize("command", ["debianize", "build"])
def test_a_library_is_refused_in_one_line_and_nothing_is_written(
    command: str, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    failed = venvpkg(command, "oslo.config", "--series", "2025.2", workdir=workdir, check=False)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "venvpkg: error: oslo.config is a library of 2025.2 (flamingo), not a service: its "
        "wheel is in the requirements package (venvpkg release 2025.2); debianize the service "
        "that uses it, e.g. adjutant, aetos, aodh, barbican"
    ]
    assert not workdir.exists() or not any(workdir.rglob("*.deb"))


def test_site_template_with_an_undefined_variable_names_it(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site).mkdir()
    (site / "copyright.j2").write_text("Upstream-Name: {{ no_such_variable }}\n")
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[debianize]\ntemplates = "{site}"\n')
    failed = venvpkg(
        "debianize", *ARGS, "--config", str(config), workdir=released, index=index_url, check=False
    )
    assert failed.returncode == 2, failed.stderr
    assert "copyright.j2" in failed.stderr and "no_such_variable" in failed.stderr
    assert "Traceback" not in failed.stderr


@pytest.fixture(scope="module")
def built(released: Path, index_url: str) -> Iterator[dict[str, object]]:
    result = venvpkg(
        "build", *ARGS, "--backend", "host", "--json", workdir=released, index=index_url
    )
    summary = json.loads(result.stdout)["builds"][0]
    yield summary
    subprocess.run(
        ["dpkg", "--purge", *FIXSVC_PACKAGES, "openstack-requirements-2025.2"],
        capture_output=True,
        check=False,
    )


@needs_root
def test_build_makes_lintian_clean_packages_named_for_debian(built: dict[str, object]) -> None:
    names = sorted(Path(str(d)).name.split("_")[0] for d in built["debs"])  # type: ignore[attr-defined]
    assert names == [
        "fixsvc-api",
        "fixsvc-common",
        "fixsvc-engine",
        "python3-fixsvc",
        "venv-fixsvc",
    ]
    assert built["lintian"] == "clean"
    assert str(built["version"]).startswith("90:1.0-1+deb12")


def _apt_install(debs: list[str]) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Another apt on this host (a parallel run, unattended-upgrades) holds dpkg's lock for
    # a while: wait for it, as venvpkg's own apt calls do, instead of failing at once.
    command = ["apt-get", *APT_WAIT, "install", "-y", *debs]
    subprocess.run(command, check=True, env=env, capture_output=True)


def _installed_version(package: str) -> str:
    query = ["dpkg-query", "-W", "-f", "${Version}", package]
    return subprocess.run(query, capture_output=True, text=True, check=True).stdout


@needs_root
def test_installed_packages_run_upgrade_keeping_config_and_purge_cleanly(
    built: dict[str, object], released: Path, index_url: str, tmp_path: Path
) -> None:
    _apt_install([str(d) for d in built["debs"]])  # type: ignore[attr-defined]
    out = subprocess.run(["/usr/bin/fixsvc-manage"], capture_output=True, text=True, check=True)
    # fixlib_c is a C extension compiled from its sdist, then stripped: it still loads.
    assert out.stdout.strip() == "fixsvc-manage 1.0 (a1, 3)"
    module = next(Path("/opt/venvs/fixsvc/lib").glob("python3*/site-packages/fixlib_c*.so"))
    described = subprocess.run(["file", str(module)], capture_output=True, text=True).stdout
    assert ", stripped" in described
    assert os.path.realpath("/usr/bin/fixsvc-manage") == "/opt/venvs/fixsvc/bin/fixsvc-manage"
    conf = Path("/etc/fixsvc/fixsvc.conf")
    info = conf.stat()
    owner = (pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name)
    assert owner == ("root", "fixsvc")
    assert oct(info.st_mode & 0o777) == "0o640"
    assert "#workers = " in conf.read_text()
    assert Path("/etc/fixsvc/api-paste.ini").is_file()
    units = ["/lib/systemd/system/fixsvc-engine.service", "/lib/systemd/system/fixsvc-api.service"]
    verify = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    uwsgi = Path("/etc/fixsvc/fixsvc-api-uwsgi.ini").read_text()
    assert "wsgi-file = /opt/venvs/fixsvc/bin/fixsvc-wsgi-api" in uwsgi
    assert "home = /opt/venvs/fixsvc" in uwsgi
    _api_serves_under_its_script_name_and_stops_on_the_units_signal()
    # Files that follow the code's version are conffiles; the operator's main config is not.
    conffiles = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Conffiles}", "fixsvc-common"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "/etc/fixsvc/api-paste.ini " in conffiles
    assert "/etc/fixsvc/fixsvc-api-uwsgi.ini " in conffiles
    assert "/etc/fixsvc/fixsvc.conf " not in conffiles
    assert Path("/etc/fixsvc/policy.d").is_dir()
    log_dir = Path("/var/log/fixsvc").stat()
    assert (pwd.getpwuid(log_dir.st_uid).pw_name, oct(log_dir.st_mode & 0o777)) == (
        "fixsvc",
        "0o750",
    )
    # What autopkgtest runs: every script answers, the WSGI module imports, samples generate.
    smoke = released / SOURCE / "debian" / "tests" / "smoke"
    ran = subprocess.run(["sh", "-e", str(smoke)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "finding fixsvc.wsgi.api" in ran.stdout
    # Bytecode is compiled on the node, not shipped.
    site = next(Path("/opt/venvs/fixsvc/lib").glob("python3*/site-packages"))
    assert list((site / "fixsvc" / "__pycache__").glob("cli.cpython-3*.pyc"))
    listing = subprocess.run(
        ["dpkg", "-L", "venv-fixsvc"], capture_output=True, text=True, check=True
    ).stdout
    assert "__pycache__" not in listing
    # The service user must not be able to change the code it runs.
    venv_lib = Path("/opt/venvs/fixsvc/lib").stat()
    assert venv_lib.st_uid == 0 and not venv_lib.st_mode & 0o022

    # An operator's edits survive an upgrade to a new revision, of a conffile too.
    conf.write_text("[DEFAULT]\nworkers = 3\n")
    paste = Path("/etc/fixsvc/api-paste.ini")
    paste.write_text(paste.read_text() + "# the operator's line\n")
    config = tmp_path / "venvpkg.toml"
    config.write_text('[projects.fixsvc]\ndepends = ["adduser"]\n')
    rebuilt = venvpkg(
        "build",
        *ARGS,
        "--backend",
        "host",
        "--json",
        "--config",
        str(config),
        workdir=released,
        index=index_url,
    )
    newer = json.loads(rebuilt.stdout)["builds"][0]
    assert newer["version"] == "90:1.0-2+deb12"
    _apt_install(newer["debs"])
    assert _installed_version("fixsvc-common") == "90:1.0-2+deb12"
    assert conf.read_text() == "[DEFAULT]\nworkers = 3\n"
    assert paste.read_text().endswith("# the operator's line\n")

    # A newer version that installed one more file, then a downgrade to this one: purge
    # still removes it, because the registry of installed configs outlives the scripts.
    registry = Path("/var/lib/venvpkg/fixsvc.configs")
    assert "/etc/fixsvc/fixsvc.conf\n" in registry.read_text()
    Path("/etc/fixsvc/plugins").mkdir()
    Path("/etc/fixsvc/plugins/newer.ini").write_text("# from a newer version\n")
    with registry.open("a") as listed:
        listed.write("/etc/fixsvc/plugins/newer.ini\n")
    subprocess.run(
        ["dpkg", "--purge", *FIXSVC_PACKAGES],
        check=True,
        capture_output=True,
    )
    assert not Path("/etc/fixsvc").exists()
    assert not registry.exists()
    assert not Path("/opt/venvs/fixsvc").exists()
    assert not Path("/usr/bin/fixsvc-manage").exists()


def _api_serves_under_its_script_name_and_stops_on_the_units_signal() -> None:
    """Run fixsvc-api as its unit does (user, uwsgi binary, ini, kill signal): the
    application is loaded through a script named like Debian's, so oslo.log would name
    the log after that script, and the unit's stop signal ends uwsgi at once (a signal
    that makes it reload leaves systemd waiting out its timeout)."""
    unit = Path("/lib/systemd/system/fixsvc-api.service").read_text()
    command = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()  # type: ignore[union-attr]
    found = re.search(r"^KillSignal=(\w+)$", unit, re.M)
    signal_name = found.group(1) if found else "SIGTERM"
    runtime = Path("/run/fixsvc-api")
    runtime.mkdir(exist_ok=True)
    shutil.chown(runtime, "fixsvc", "fixsvc")
    port = _free_port()
    server = subprocess.Popen(
        ["runuser", "-u", "fixsvc", "--", *command, "--http-socket", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = _get_when_up(f"http://127.0.0.1:{port}/", server)
        assert body == "fixsvc-wsgi-api"
        started = time.monotonic()
        os.kill(server.pid, getattr(signal, signal_name))
        server.wait(timeout=10)
        assert time.monotonic() - started < 5
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(runtime, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get_when_up(url: str, server: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


PATCH = """Description: add a site notice
--- /dev/null
+++ b/SITE-NOTICE
@@ -0,0 +1 @@
+patched by the site
"""


def test_pin_override_and_patches_are_carried_and_recorded(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    patches = tmp_path / "patches"
    patches.mkdir()
    (patches / "0001-notice.patch").write_text(PATCH)
    config = tmp_path / "venvpkg.toml"
    config.write_text(
        f'[projects.fixsvc]\npins = {{ "fixlib-a" = "1.1" }}\npatches = "{patches}"\n'
    )
    venvpkg("debianize", *ARGS, "--config", str(config), workdir=released, index=index_url)
    debian = released / SOURCE / "debian"
    lock = (debian / "requirements.lock").read_text()
    assert "fixlib-a==1.1 \\" in lock
    assert (debian / "wheels" / "fixlib_a-1.1-py3-none-any.whl").is_file()
    assert "Pin override: fixlib-a 1.0 -> 1.1." in (debian / "changelog").read_text()
    assert (debian / "patches" / "series").read_text() == "0001-notice.patch\n"
    # dpkg-source -x of the .dsc applies the patch: what a build will see.
    dsc = sorted((released / "src/bookworm-2025.2").glob("venv-fixsvc_1.0-*.dsc"))[-1]
    extracted = tmp_path / "extracted"
    subprocess.run(["dpkg-source", "-x", str(dsc), str(extracted)], check=True, capture_output=True)
    assert (extracted / "SITE-NOTICE").read_text() == "patched by the site\n"


def test_pin_override_the_index_lacks_is_refused(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "venvpkg.toml"
    config.write_text('[projects.fixsvc]\npins = { "fixlib-a" = "9.9" }\n')
    failed = venvpkg(
        "debianize", *ARGS, "--config", str(config), workdir=released, index=index_url, check=False
    )
    assert failed.returncode == 2
    assert "pin override fixlib-a==9.9" in failed.stderr and "Traceback" not in failed.stderr


def test_source_from_a_directory_becomes_an_orig_tarball(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    venvpkg("debianize", *ARGS, workdir=released, index=index_url)
    orig = released / "src/bookworm-2025.2/venv-fixsvc_1.0.orig.tar.gz"
    sdist = tmp_path / "fixsvc-1.0.tar.gz"
    shutil.copyfile(orig, sdist)
    tree = tmp_path / "checkout"
    tree.mkdir()
    subprocess.run(["tar", "-xf", str(sdist), "-C", str(tree), "--strip-components=1"], check=True)
    (tree / ".git").mkdir()  # VCS metadata stays out of the orig tarball
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/master\n")
    result = venvpkg(
        "debianize", *ARGS, "--source", str(tree), "--json", workdir=released, index=index_url
    )
    summary = json.loads(result.stdout)
    listing = subprocess.run(
        ["tar", "-tzf", str(orig)], capture_output=True, text=True, check=True
    ).stdout
    assert "pyproject.toml" in listing and ".git/" not in listing
    assert Path(summary["dsc"]).is_file()
    assert "Source: " + str(tree) in (Path(summary["source"]) / "debian/changelog").read_text()


def _fixsvc_tree(released: Path, index_url: str, tmp_path: Path) -> Path:
    """fixsvc's source tree, unpacked from the orig tarball debianize makes."""
    venvpkg("debianize", *ARGS, workdir=released, index=index_url)
    orig = released / "src/bookworm-2025.2/venv-fixsvc_1.0.orig.tar.gz"
    tree = tmp_path / "fixsvc"
    tree.mkdir()
    subprocess.run(["tar", "-xf", str(orig), "-C", str(tree), "--strip-components=1"], check=True)
    return tree


def test_source_from_a_git_ref_builds_a_trunk_tree(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    repo = _fixsvc_tree(released, index_url, tmp_path)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "trunk"], check=True)
    subprocess.run([*git, "tag", "trunk-1"], check=True)
    result = venvpkg(
        "debianize",
        *ARGS,
        "--source",
        f"file://{repo}@trunk-1",
        "--json",
        workdir=released,
        index=index_url,
    )
    summary = json.loads(result.stdout)
    changelog = (Path(summary["source"]) / "debian/changelog").read_text()
    assert f"file://{repo}@trunk-1 (" in changelog
    orig = released / "src/bookworm-2025.2/venv-fixsvc_1.0.orig.tar.gz"
    listing = subprocess.run(["tar", "-tzf", str(orig)], capture_output=True, text=True).stdout
    assert ".git/" not in listing and "pyproject.toml" in listing


def test_a_git_source_that_cannot_be_read_is_one_line_naming_a_log_that_exists(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.git"
    result = venvpkg(
        "debianize",
        *ARGS,
        "--source",
        f"file://{missing}@trunk-1",
        workdir=released,
        index=index_url,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert f"'{missing}' does not appear to be a git repository" in line
    log = Path(line.rsplit("; see ", 1)[1])
    assert "fatal:" in log.read_text()
    assert not list((released / "src/bookworm-2025.2").glob("venvpkg-debianize-*"))


@pytest.mark.parametrize("kind", ["empty directory", "fake tarball"])
def test_a_source_that_is_not_a_project_or_archive_is_named(
    released: Path, index_url: str, tmp_path: Path, kind: str
) -> None:
    given = tmp_path / ("empty" if kind == "empty directory" else "fixsvc-1.0.tar.gz")
    if kind == "empty directory":
        given.mkdir()
    else:
        given.write_text("not an archive\n")
    result = venvpkg(
        "debianize", *ARGS, "--source", str(given), workdir=released, index=index_url, check=False
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    why = "is not a Python project" if kind == "empty directory" else "is not a tar or zip archive"
    assert f"venvpkg: error: --source {given} {why}" in result.stderr.splitlines()[-1]


def test_debianize_again_later_keeps_the_same_source_package(
    released: Path, index_url: str
) -> None:
    venvpkg("debianize", *ARGS, workdir=released, index=index_url)
    dsc = sorted((released / "src/bookworm-2025.2").glob("venv-fixsvc_1.0-*.dsc"))[-1]
    before = dsc.read_bytes()
    # A later run would write another changelog date: the .dsc (and every build keyed on
    # it) must not change when nothing else did.
    later = {"SOURCE_DATE_EPOCH": "1893456000"}
    venvpkg("debianize", *ARGS, workdir=released, index=index_url, env=later)
    assert dsc.read_bytes() == before


def test_unchanged_inputs_skip_debianize_and_an_edited_site_template_does_not(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    def debianize(*extra: str) -> tuple[dict[str, object], str]:
        ran = venvpkg("debianize", *ARGS, *extra, "--json", workdir=released, index=index_url)
        return json.loads(ran.stdout), ran.stderr

    first, _ = debianize()
    tree = Path(str(first["source"]))
    before = tree.stat().st_ino
    again, said = debianize()
    assert again == {**first, "changed": False}
    assert "venv-fixsvc" in said and "unchanged" in said
    assert tree.stat().st_ino == before  # nothing unpacked or swapped in
    revision = int(str(first["version"]).rsplit("-", 1)[1].split("+")[0])

    site = tmp_path / "site"
    site.mkdir()
    builtin = Path(__file__).parents[2] / "templates" / "debian" / "copyright.j2"
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[debianize]\ntemplates = "{site}"\n')
    for note in ("first site note", "second site note"):
        # Editing the same site file, not only naming a new directory, is a new input.
        (site / "copyright.j2").write_text(builtin.read_text() + f"Comment: {note}\n")
        changed, _ = debianize("--config", str(config))
        revision += 1
        assert changed["changed"] is True
        assert str(changed["version"]).startswith(f"90:1.0-{revision}+")
        copyright_file = Path(str(changed["source"])) / "debian" / "copyright"
        assert f"Comment: {note}" in copyright_file.read_text()


@needs_root
def test_a_venv_whose_console_script_cannot_import_fails_its_runtime_check(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    tree = _fixsvc_tree(released, index_url, tmp_path)
    cli = tree / "src" / "fixsvc" / "cli.py"
    # It installs: nothing pins or needs fixlib_gone until the code runs.
    cli.write_text("import fixlib_gone  # noqa\n" + cli.read_text())
    workdir = tmp_path / "work"
    shutil.copytree(released, workdir, symlinks=True)
    failed = venvpkg(
        "build", *ARGS, "--source", str(tree), "--backend", "host",
        workdir=workdir, index=index_url, check=False,
    )  # fmt: skip
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    logs = "".join(p.read_text(errors="replace") for p in (workdir / "logs").rglob("*.log"))
    assert (
        "runtime check: fixsvc-manage: module fixsvc.cli does not import: "
        "ModuleNotFoundError: No module named 'fixlib_gone'"
    ) in logs
    assert "runtime check: fixsvc-engine: module fixsvc.cli does not import" in logs


def test_debianize_on_a_fresh_workdir_makes_the_requirements_package_itself(
    index_url: str, requirements_dir: Path, tmp_path: Path
) -> None:
    """`venvpkg debianize PROJECT` works as typed: no "run venvpkg release first"."""
    workdir = tmp_path / "fresh"
    result = venvpkg(
        "debianize",
        *ARGS,
        "--requirements",
        str(requirements_dir),
        workdir=workdir,
        index=index_url,
    )
    assert "no requirements package for 2025.2 (flamingo) on bookworm yet" in result.stderr
    assert "making it for fixsvc==1.0" in result.stderr
    assert list((workdir / "debs/bookworm-2025.2").glob("openstack-requirements-2025.2_*.deb"))
    assert (workdir / SOURCE / "debian" / "control").is_file()
    again = venvpkg("debianize", *ARGS, workdir=workdir, index=index_url)
    assert "making it" not in again.stderr


@needs_root
def test_two_workdirs_make_two_requirements_packages_and_a_build_takes_its_own(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    """A closure of fixsvc's and the whole fixture series, packed in two workdirs, must not
    share a version: apt would keep whichever is installed for the other's build."""
    mine = tmp_path / "mine"
    shutil.copytree(released, mine, symlinks=True)
    other = tmp_path / "other"
    requirements = other / "requirements"
    shutil.copytree(Path(__file__).parents[1] / "data/requirements-2025.2", requirements)
    venvpkg(
        "release", "2025.2", "--requirements", str(requirements), workdir=other, index=index_url
    )
    (my_deb,) = (mine / "debs/bookworm-2025.2").glob("openstack-requirements-2025.2_*.deb")
    (other_deb,) = (other / "debs/bookworm-2025.2").glob("openstack-requirements-2025.2_*.deb")
    assert my_deb.name != other_deb.name
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--allow-downgrades"]
    install.append(str(other_deb))
    installed = subprocess.run(install, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    try:
        result = venvpkg(
            "build", *ARGS, "--backend", "host", "--json", workdir=mine, index=index_url
        )
        assert json.loads(result.stdout)["builds"][0]["status"] == "built"
        control = subprocess.run(
            ["dpkg-query", "--control-path", "openstack-requirements-2025.2", "md5sums"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        packed = subprocess.run(
            ["dpkg-deb", "--info", str(my_deb), "md5sums"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert sorted(Path(control).read_text().splitlines()) == sorted(packed.splitlines())
    finally:
        subprocess.run(
            ["dpkg", "--purge", *FIXSVC_PACKAGES, "openstack-requirements-2025.2"],
            capture_output=True,
            check=False,
        )


def test_git_tracked_packaging_tags_each_version_and_diffs_what_changed(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    repository = tmp_path / "packaging"

    def debianize(*extra: str) -> dict[str, object]:
        args = ("debianize", *ARGS, "--git", str(repository), "--json", *extra)
        return json.loads(venvpkg(*args, workdir=released, index=index_url).stdout)

    def git(*args: str) -> str:
        env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null"}
        command = ["git", "-C", str(repository), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout

    first = debianize()
    tag = first["git"]["tag"]  # type: ignore[index]
    assert tag == "debian/" + str(first["version"]).replace(":", "%")
    assert first["git"]["branch"] == "debian/bookworm-2025.2"  # type: ignore[index]
    assert "debian/control" in git("ls-tree", "-r", "--name-only", tag)
    # The same version again: the same tag, no new commit.
    assert debianize()["git"] == first["git"]

    site = tmp_path / "site"
    site.mkdir()
    builtin = Path(__file__).parents[2] / "templates" / "debian" / "copyright.j2"
    (site / "copyright.j2").write_text(builtin.read_text() + "Comment: reviewed\n")
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[debianize]\ntemplates = "{site}"\n')
    second = debianize("--config", str(config))
    assert second["version"] != first["version"]
    later = second["git"]["tag"]  # type: ignore[index]
    assert git("rev-parse", f"{later}^") == git("rev-parse", tag)  # one branch, in order
    changed = git("diff", "--name-only", tag, later).split()
    assert changed == ["debian/changelog", "debian/copyright"]
    assert "+Comment: reviewed" in git("diff", tag, later, "--", "debian/copyright")
