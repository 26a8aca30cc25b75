#!/usr/bin/env python3
"""What Debian's puppet modules for nova, glance, neutron, cinder, placement and horizon
expect of the packages, checked against ours, without MySQL and RabbitMQ.

A throwaway root gets Debian's puppet and the five modules from the mirror; puppet
itself evaluates each module's params class on Debian (so the names are the module's,
not a reading of its source), and each config type's provider says which file it
writes. Against the .debs of WORKDIR/debs/DIST-SERIES:

- every package the module installs that Debian builds from the project's source exists
  (others, such as libvirt-daemon-system or tgt, are Debian's own and only listed);
- every service the module manages has our unit of that name;
- every file under /etc/PROJECT that the module's config types write is one our
  packages read: shipped as a file, or named by a unit, an ini or a maintainer script
  (types whose file another deliverable reads, networking-bgpvpn's for example, are
  listed in OTHERS with that deliverable);
- every path of PATHS the module's params name (horizon's manage.py, wsgi.py, settings,
  Apache site, log directory) is shipped by our packages or made by their scripts.

Run as root after `venvpkg build PROJECT --target DIST` of the projects:

    python3 acceptance/puppet-modules.py WORKDIR [--dist bookworm] [--series 2025.2]
        [--modules nova,glance,neutron,cinder,placement,horizon]

One PASS/FAIL/INFO line per check; non-zero on any FAIL.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from debian.debian_support import Version

MODULES = ("nova", "glance", "neutron", "cinder", "placement", "horizon")
# Params whose value is a path the packages must provide, per module: horizon's module
# runs manage.py, points Apache at wsgi.py and its site, and writes the settings.
PATHS = {
    "horizon": (
        "manage_py",
        "django_wsgi",
        "config_dir",
        "config_file",
        "conf_d_dir",
        "httpd_config_file",
        "logdir",
    ),
}
MIRROR = "http://deb.debian.org/debian"
MODULE_DIR = "usr/share/puppet/modules.available"
ARCHIVE = Path(__file__).resolve().parent.parent / "venvpkg/data/debian-archive"
# Config types of these modules whose file another deliverable (or no current release)
# reads: neither a PASS nor a FAIL for the project's own packages.
OTHERS = {
    "neutron_bgp_dragent_config": "neutron-dynamic-routing's agent",
    "neutron_bgpvpn_bagpipe_config": "networking-bagpipe",
    "neutron_bgpvpn_service_config": "networking-bgpvpn",
    "neutron_l2gw_agent_config": "networking-l2gw",
    "neutron_l2gw_service_config": "networking-l2gw",
    "neutron_sfc_service_config": "networking-sfc",
    "neutron_vpnaas_agent_config": "neutron-vpnaas",
    "neutron_vpnaas_service_config": "neutron-vpnaas",
    "neutron_mlnx_agent_config": "networking-mlnx",
    "eswitchd_config": "networking-mlnx",
    "ironic_neutron_agent_config": "networking-baremetal",
    "neutron_plugin_nuage": "nuage-openstack-neutron",
    "neutron_plugin_opencontrail": "OpenContrail's plugin",
    "neutron_plugin_nsx": "vmware-nsx",
    "neutron_agent_vpp": "networking-vpp",
    "neutron_agent_linuxbridge": "the linuxbridge agent, gone from neutron since 2025.1",
    "neutron_plugin_linuxbridge": "the linuxbridge plugin, gone from neutron long ago",
    "neutron_ovn_vpn_agent_config": "neutron-vpnaas's OVN agent",
    "neutron_taas_service_config": "tap-as-a-service",
    "glance_swift_config": "glance_store, when glance-api.conf's swift_store_config_file names it",
    "glance_property_protections_config": "glance, when its property_protection_file names it",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--dist", default="bookworm")
    parser.add_argument("--series", default="2025.2")
    parser.add_argument("--modules", default=",".join(MODULES))
    options = parser.parse_args()
    modules = [m for m in options.modules.split(",") if m]
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        sys.exit(f"unknown module(s) {', '.join(unknown)}: choose from {', '.join(MODULES)}")
    debs = options.workdir / "debs" / f"{options.dist}-{options.series}"
    if not debs.is_dir():
        sys.exit(f"no packages in {debs}: build {', '.join(modules)} for {options.dist} first")
    ours = _our_packages(debs)
    sources = json.loads((ARCHIVE / f"{options.dist}.json").read_text())["sources"]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="venvpkg-puppet-modules-") as scratch:
        root = Path(scratch) / "root"
        _bootstrap(root, options.dist, modules)
        for module in modules:
            params = _params(root, module)
            files = _config_files(root, module)
            debian = set(sources.get(module, {}).get("binaries", {}))
            failed += _report(module, params, files, debian, ours)
    print(f"{'FAIL' if failed else 'PASS'}: {failed} failed checks")
    return 1 if failed else 0


class Ours:
    """Our packages of one dist and series: names, units, files and what they mention."""

    def __init__(self) -> None:
        self.packages: set[str] = set()
        self.units: set[str] = set()
        self.files: set[str] = set()
        self.text = ""


def _our_packages(debs: Path) -> Ours:
    ours = Ours()
    texts = []
    # Each package's newest build only: an older one may still name what the new dropped.
    newest: dict[str, Path] = {}
    for deb in debs.glob("*.deb"):
        name, version = deb.name.split("_")[:2]
        if name not in newest or Version(version) > Version(newest[name].name.split("_")[1]):
            newest[name] = deb
    with tempfile.TemporaryDirectory(prefix="venvpkg-debs-") as scratch:
        for name, deb in sorted(newest.items()):
            ours.packages.add(name)
            if name.startswith(("venv-", "openstack-requirements")):
                continue  # the venv's thousands of files say nothing about /etc
            tree = Path(scratch) / deb.stem
            subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
            for path in tree.rglob("*"):
                relative = "/" + str(path.relative_to(tree))
                if path.is_file() and not path.is_symlink():
                    ours.files.add(relative)
                    if path.suffix != ".gz":
                        texts.append(path.read_text(errors="replace"))
                if re.fullmatch(r"/(usr/)?lib/systemd/system/[^/]+\.service", relative):
                    ours.units.add(path.stem)
    ours.text = "\n".join(texts)
    return ours


def _bootstrap(root: Path, dist: str, wanted: list[str]) -> None:
    modules = ",".join(f"puppet-module-{m}" for m in wanted)
    command = ["mmdebstrap", "--quiet", "--variant=apt", f"--include=puppet,{modules}"]
    subprocess.run([*command, dist, str(root), MIRROR], check=True)


def _params(root: Path, module: str) -> dict[str, str]:
    """The module's *package_name, *service_name and PATHS params on Debian, as puppet
    evaluates them."""
    source = (root / MODULE_DIR / module / "manifests/params.pp").read_text()
    names = set(re.findall(r"\$(\w*(?:package|service)_name)\s*=", source))
    names = sorted(names | set(PATHS.get(module, ())))
    # getvar: a variable the class sets only on other platforms is undef, not an error.
    notices = "".join(
        f"notice(\"{module} {n} ${{getvar('{module}::params::{n}')}}\")\n" for n in names
    )
    manifest = f"include {module}::params\n{notices}"
    command = ["puppet", "apply", "--color=false", "-e", manifest]
    done = subprocess.run(
        ["chroot", str(root), *command], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "Error" in line]
        sys.exit(f"puppet could not evaluate {module}::params: {(errors or ['?'])[-1]}")
    found = {}
    for line in done.stdout.splitlines():
        matched = re.search(rf"Scope\(Class\[main\]\): {module} (\w+) (\S+)$", line)
        if matched:
            found[matched.group(1)] = matched.group(2)
    return found


def _config_files(root: Path, module: str) -> dict[str, str]:
    """Each config type of the module and the file its provider writes."""
    providers = root / MODULE_DIR / module / "lib/puppet/provider"
    found = {}
    for provider in sorted(providers.glob("*/*.rb")):
        matched = re.search(r"def self\.file_path\s+'([^']+)'", provider.read_text())
        if matched:
            found[provider.parent.name] = matched.group(1)
    return found


def _report(
    module: str, params: dict[str, str], files: dict[str, str], debian: set[str], ours: Ours
) -> int:
    failed = 0
    for name, value in sorted(params.items()):
        if name in PATHS.get(module, ()):
            failed += _path_check(module, name, value, ours)
        elif name.endswith("package_name"):
            if value in ours.packages:
                print(f"PASS: {module}::params::{name} = {value}: ours")
            elif value in debian and value.endswith("-doc"):
                print(f"INFO: {module}::params::{name} = {value}: documentation, not built")
            elif value in debian:
                print(f"FAIL: {module}::params::{name} = {value}: Debian builds it, we do not")
                failed += 1
            else:
                print(f"INFO: {module}::params::{name} = {value}: not from {module}'s source")
        elif value in ours.units:
            print(f"PASS: {module}::params::{name} = {value}: our unit")
        elif value.startswith(module) or value in debian:
            print(f"FAIL: {module}::params::{name} = {value}: no unit of ours")
            failed += 1
        else:
            print(f"INFO: {module}::params::{name} = {value}: not {module}'s service")
    for kind, path in sorted(files.items()):
        if kind in OTHERS or not path.startswith(f"/etc/{module}/"):
            reader = OTHERS.get(kind, f"not {module}'s file")
            print(f"INFO: {kind} writes {path}: {reader}")
        elif path in ours.files:
            print(f"PASS: {kind} writes {path}: shipped by our packages")
        elif path in ours.text:
            print(f"PASS: {kind} writes {path}: read by our units, inis or scripts")
        else:
            print(f"FAIL: {kind} writes {path}: none of our packages reads it")
            failed += 1
    return failed


def _path_check(module: str, name: str, value: str, ours: Ours) -> int:
    """A path the module uses: shipped (the file or a directory holding files), or named
    by a package's scripts, tmpfiles or dirs (made on the node)."""
    shipped = value in ours.files or any(f.startswith(f"{value}/") for f in ours.files)
    if shipped:
        print(f"PASS: {module}::params::{name} = {value}: shipped by our packages")
    elif value in ours.text:
        print(f"PASS: {module}::params::{name} = {value}: made by our packages' scripts")
    else:
        print(f"FAIL: {module}::params::{name} = {value}: none of our packages provides it")
        return 1
    return 0


if __name__ == "__main__":
    if shutil.which("mmdebstrap") is None:
        sys.exit("needs mmdebstrap (apt-get install mmdebstrap), run as root")
    sys.exit(main())
