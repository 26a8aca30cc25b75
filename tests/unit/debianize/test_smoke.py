"""The smoke test autopkgtest runs on an installed venv package, run for real with this
Python on console scripts written here (none of them on /usr/bin, so each falls back to
loading its entry point, as a script that needs a deployment to answer --help does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from venvpkg import rendering

TEMPLATES = Path(__file__).parents[3] / "templates" / "debian"

MODULES = {
    "fixplug_ok": "def main():\n    pass\n",
    # As trove's docker plugin does: read the node's config as the module loads.
    "fixplug_node": (
        "import json\n"
        "with open('/nonexistent-venvpkg-node/hostnic.json') as f:\n"
        "    CONFIG = json.load(f)\n"
        "def main():\n    pass\n"
    ),
    "fixplug_broken": "import fixlib_gone\ndef main():\n    pass\n",
}


def _smoke(tmp_path: Path, scripts: dict[str, str]) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    info = site / "fixplug-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fixplug\nVersion: 1.0\n")
    lines = [f"{name} = {target}" for name, target in scripts.items()]
    (info / "entry_points.txt").write_text("[console_scripts]\n" + "\n".join(lines) + "\n")
    for module, text in MODULES.items():
        (site / f"{module}.py").write_text(text)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    context = {
        "venv_dir": str(venv),
        "console_scripts": sorted(scripts),
        "wsgi_modules": [],
        "samples": [],
        "django": None,
    }
    smoke = tmp_path / "smoke"
    smoke.write_text(
        rendering.render(rendering.environment([TEMPLATES]), "tests/smoke.j2", context)
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(["sh", str(smoke)], env=env, capture_output=True, text=True)


def test_a_script_that_reads_the_nodes_config_as_it_loads_needs_a_deployment(
    tmp_path: Path,
) -> None:
    scripts = {"fixplug-ok": "fixplug_ok:main", "fixplug-node": "fixplug_node:main"}
    done = _smoke(tmp_path, scripts)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "needs a deployment to load: fixplug-node" in done.stdout
    assert "/nonexistent-venvpkg-node/hostnic.json" in done.stdout


def test_a_script_whose_code_is_broken_fails_the_smoke_test(tmp_path: Path) -> None:
    done = _smoke(tmp_path, {"fixplug-broken": "fixplug_broken:main"})
    assert done.returncode != 0
    assert "No module named 'fixlib_gone'" in done.stderr
