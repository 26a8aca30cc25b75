"""Pure parts of debianize: versions, revisions and the package split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from debian.debian_support import Version as DebianVersion
from packaging.version import Version

from venvpkg import series, targets
from venvpkg.config import ProjectSettings
from venvpkg.debianize import Request, inputs, layout, model, versions
from venvpkg.files import sha256_file
from venvpkg.records import ReleaseRecord, SourceRecord


@pytest.mark.parametrize(
    "pep440", ["28.0.2", "28.0.0rc1", "1.0.dev3", "1.0rc1.dev2", "2.1.post2", "1.0+local.1"]
)
def test_a_debian_upstream_version_maps_back_to_its_pep440(pep440: str) -> None:
    # watch compares a shipped build's version (named in Debian's form) with the index's.
    assert versions.pep440(versions.upstream(Version(pep440))) == str(Version(pep440))


def test_a_debian_version_no_pep440_maps_to_is_refused() -> None:
    with pytest.raises(ValueError, match="no Debian form"):
        versions.pep440("1.0~weird")


def test_pep440_maps_to_debian_ordering() -> None:
    assert versions.upstream(Version("28.0.0rc1")) == "28.0.0~rc1"
    assert versions.upstream(Version("1.0.dev3")) == "1.0~~dev3"
    assert versions.upstream(Version("2.1.post2")) == "2.1+post2"
    ordered = [
        "28.0.0.dev1",
        "28.0.0a1.dev1",
        "28.0.0a1",
        "28.0.0rc1",
        "28.0.0",
        "28.0.0.post1",
        "28.0.1",
    ]
    debian = [DebianVersion(versions.upstream(Version(v))) for v in ordered]
    assert debian == sorted(debian)
    assert versions.debian_version(Version("28.0.2"), 3, "+deb12", 90) == "90:28.0.2-3+deb12"


def test_revisions_rise_only_when_the_inputs_change(tmp_path: Path) -> None:
    state = tmp_path / "revisions.json"
    assert versions.next_revision(state, "nova-32.0.0", "a") == (1, True)
    versions.remember_revision(state, "nova-32.0.0", "a", 1)
    assert versions.next_revision(state, "nova-32.0.0", "a") == (1, False)
    assert versions.next_revision(state, "nova-32.0.0", "b") == (2, True)
    assert versions.next_revision(state, "nova-33.0.0", "b") == (1, True)


def _model(
    name: str, scripts: list[str], wsgi: tuple[str, ...] = (), wsgi_scripts: tuple[str, ...] = ()
) -> model.ProjectModel:
    return model.ProjectModel(
        name=name,
        dist_name=name,
        version=Version("1.0"),
        modules=(name,),
        console_scripts={s: "x:y" for s in scripts},
        wsgi_scripts={s: "x:y" for s in wsgi_scripts},
        wsgi_modules=wsgi,
        config_files=(),
        samples=(),
        policy_namespaces=(),
        requires=(),
    )


def test_nova_gets_debians_package_and_service_names() -> None:
    nova = _model(
        "nova",
        [
            "nova-manage",
            "nova-conductor",
            "nova-scheduler",
            "nova-compute",
            "nova-novncproxy",
            "nova-serialproxy",
            "nova-spicehtml5proxy",
            "nova-rootwrap",
        ],
        ("nova.wsgi.metadata", "nova.wsgi.osapi_compute"),
    )
    split = layout.plan_layout(nova)
    names = {p.name: p for p in split.packages}
    assert set(names) == {
        "venv-nova",
        "python3-nova",
        "nova-common",
        "nova-api",
        "nova-conductor",
        "nova-scheduler",
        "nova-compute",
        "nova-consoleproxy",
    }
    assert [s.name for s in names["nova-api"].services] == ["nova-api", "nova-api-metadata"]
    assert names["nova-api"].services[0].wsgi == "nova.wsgi.osapi_compute:application"
    assert "nova-manage" in names["nova-common"].scripts
    assert split.uid == 64060
    assert names["nova-consoleproxy"].defaults == ("NOVA_CONSOLE_PROXY_TYPE=novnc",)
    assert [link for link, _ in split.compat_links] == [
        "nova/wsgi/osapi_compute.py",
        "nova/wsgi/metadata.py",
    ]


def test_old_nova_serves_its_pbr_wsgi_scripts_and_gets_no_dangling_links() -> None:
    queens = _model(
        "nova",
        ["nova-manage", "nova-conductor", "nova-api-os-compute"],
        wsgi_scripts=("nova-api-wsgi", "nova-metadata-wsgi"),
    )
    split = layout.plan_layout(queens)
    services = {s.name: s for s in split.services}
    assert services["nova-api"].wsgi_file == "nova-api-wsgi"
    assert services["nova-api-metadata"].wsgi_file == "nova-metadata-wsgi"
    assert split.compat_links == ()
    assert not any(s.generated for s in split.services)
    api = next(p for p in split.packages if p.name == "nova-api")
    assert api.scripts == ("nova-api-wsgi", "nova-metadata-wsgi")
    assert "nova-api-wsgi" not in split.package("common").scripts


def test_wsgi_services_run_a_script_named_as_debian_names_it() -> None:
    """uwsgi loads /opt/venvs/P/bin/NAME (oslo.log names the log after it); where the
    release has only the module, venvpkg writes the script; old names stay as links."""
    keystone = _model("keystone", ["keystone-manage"], ("keystone.wsgi.api",))
    keystone = dataclasses.replace(
        keystone, source_etc=("default_catalog.templates", "logging.conf.sample")
    )
    split = layout.plan_layout(keystone)
    (service,) = split.services
    assert (service.wsgi_file, service.generated) == ("keystone-wsgi-public", True)
    package = split.package("common")
    assert package.name == "keystone"
    assert "keystone-wsgi-public" in package.scripts
    assert package.aliases == (("keystone-wsgi-admin", "keystone-wsgi-public"),)
    assert (split.shell, split.log_group) == ("/bin/sh", "adm")
    assert split.config_dirs == ("policy.d", "ssl")
    assert dict(split.source_configs) == {
        "default_catalog.templates": "default_catalog.templates",
        "logging.conf": "logging.conf.sample",
    }
    glance = layout.plan_layout(_model("glance", ["glance-manage"], ("glance.wsgi.api",)))
    assert glance.services[0].wsgi_file == "glance-wsgi-api"
    assert (glance.shell, glance.log_group) == ("/usr/sbin/nologin", "")


def test_a_generated_wsgi_script_never_takes_a_commands_name() -> None:
    neutron = _model("neutron", ["neutron-api"], ("neutron.wsgi.api",))
    service = next(s for s in layout.plan_layout(neutron).services if s.name == "neutron-api")
    assert service.wsgi_file == "neutron-wsgi-api"


def test_unknown_projects_get_the_generic_split() -> None:
    split = layout.plan_layout(
        _model("zaqar", ["zaqar-server", "zaqar-manage", "zaqar-status"], ("zaqar.wsgi.api",))
    )
    services = {s.name: s for s in split.services}
    assert set(services) == {"zaqar-server", "zaqar-api"}
    assert services["zaqar-api"].is_wsgi and services["zaqar-server"].script == "zaqar-server"
    assert split.package("common").name == "zaqar-common"
    assert set(split.package("common").scripts) == {"zaqar-manage", "zaqar-status"}


def test_runtime_dependencies_leave_the_gate_packages_out() -> None:
    from venvpkg import sysdeps, targets

    bindep = (
        "haproxy\nkeepalived\nlibffi-dev [platform:dpkg]\nmariadb-server [platform:dpkg]\n"
        "qemu-utils [platform:dpkg]\nlocales [platform:dpkg]\nvim [test]\n"
        "default-mysql-server [platform:dpkg]\ngrub-efi-amd64-signed [platform:dpkg]\nipxe\n"
    )
    found = sysdeps.runtime_dependencies(bindep, targets.lookup("bookworm"))
    assert found == ["haproxy", "ipxe", "keepalived", "qemu-utils"]


def test_tree_digest_sees_names_and_contents_but_not_bytecode(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "source").mkdir(parents=True)
    (site / "control.j2").write_text("Source: {{ source }}\n")
    first = inputs.tree_digest(site)
    (site / "__pycache__").mkdir()
    (site / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert inputs.tree_digest(site) == first
    (site / "control.j2").write_text("Source: {{ source }}\n\n")
    edited = inputs.tree_digest(site)
    assert edited != first
    (site / "control.j2").rename(site / "source" / "control.j2")
    assert inputs.tree_digest(site) not in (first, edited)
    (tmp_path / "empty").mkdir()
    assert inputs.tree_digest(tmp_path / "missing") == inputs.tree_digest(tmp_path / "empty")


def test_a_recorded_result_is_used_only_while_its_inputs_and_dsc_are_unchanged(
    tmp_path: Path,
) -> None:
    tree, dsc, record = tmp_path / "venv-x-1.0", tmp_path / "venv-x_1.0-1.dsc", tmp_path / "r"
    tree.mkdir()
    dsc.write_text("Source: venv-x\n")
    inputs.remember(record, "abc", SourceRecord(tree, dsc, "90:1.0-1", ("venv-x",)))
    assert inputs.recall(record, "abc") == SourceRecord(
        tree, dsc, "90:1.0-1", ("venv-x",), inputs="abc", dsc_sha256=sha256_file(dsc)
    )
    assert inputs.recall(record, "other inputs") is None
    dsc.write_text("Source: venv-x\nEdited: by hand\n")
    assert inputs.recall(record, "abc") is None
    dsc.unlink()
    assert inputs.recall(record, "abc") is None
    record.write_text("{half written")
    assert inputs.recall(record, "abc") is None


def _release(workdir: Path, version: str) -> ReleaseRecord:
    wheelhouse = workdir / "wheelhouse" / "bookworm-2025.2"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    if not (wheelhouse / "requirements.lock").exists():
        (wheelhouse / "requirements.lock").write_text("fixlib-a==1.0\n")
    package, deb = "openstack-requirements-2025.2", workdir / "r.deb"
    return ReleaseRecord("bookworm", "2025.2", package, version, deb, "", "f", 2, wheelhouse)


def test_every_input_of_a_debianized_tree_changes_its_digest(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "copyright.j2").write_text("one\n")
    archive = tmp_path / "fixsvc-1.0.tar.gz"
    archive.write_bytes(b"sdist one")
    request = Request(
        "fixsvc",
        "fixsvc",
        Version("1.0"),
        series.lookup("2025.2"),
        targets.lookup("bookworm"),
        options=ProjectSettings(templates=str(site)),
    )
    release = _release(tmp_path / "work", "20260505.1+deb12")
    url = "https://pypi.org/simple/"
    seen = {inputs.digest(request, url, release, archive)}
    assert inputs.digest(request, url, release, archive) in seen

    def changed(request: Request, url: str, release: ReleaseRecord, archive: Path) -> None:
        made = inputs.digest(request, url, release, archive)
        assert made not in seen
        seen.add(made)

    changed(request, "https://mirror.example/simple/", release, archive)
    changed(dataclasses.replace(request, version=Version("1.0.1")), url, release, archive)
    changed(dataclasses.replace(request, source="/src/fixsvc"), url, release, archive)
    with_depends = dataclasses.replace(request.options, depends=("memcached",))
    changed(dataclasses.replace(request, options=with_depends), url, release, archive)
    trixie = targets.lookup("trixie")
    changed(dataclasses.replace(request, target=trixie), url, release, archive)
    (site / "copyright.j2").write_text("two\n")
    changed(request, url, release, archive)
    archive.write_bytes(b"sdist two")
    changed(request, url, release, archive)
    changed(request, url, _release(tmp_path / "work", "20260505.2+deb12"), archive)
    (release.wheelhouse / "requirements.lock").write_text("fixlib-a==1.1\n")
    changed(request, url, release, archive)


def test_a_policy_sample_is_generated_unless_the_project_ships_one() -> None:
    from venvpkg.debianize import context

    keystone = _model("keystone", ["keystone-manage"], ("keystone.wsgi.api",))
    policed = dataclasses.replace(keystone, policy_namespaces=("keystone",))
    targets_of = [c["target"] for c in context._configs(policed, "keystone")]
    assert "/etc/keystone/policy.yaml" in targets_of
    assert context._policy(policed) == {"namespaces": ["keystone"], "filename": "policy.yaml"}
    shipped = dataclasses.replace(policed, config_files=("policy.yaml",))
    assert context._policy(shipped) is None
    assert context._policy(_model("fixsvc", [])) is None


def test_files_that_follow_the_code_are_conffiles_and_the_operators_are_not() -> None:
    """api-paste.ini, rootwrap, the uwsgi ini and logging.conf come with each version
    (dpkg keeps edits); the generated main config is only installed when missing."""
    from venvpkg.debianize import context

    nova = dataclasses.replace(
        _model(
            "nova",
            ["nova-manage", "nova-rootwrap"],
            ("nova.wsgi.osapi_compute", "nova.wsgi.metadata"),
        ),
        config_files=("api-paste.ini", "rootwrap.conf", "rootwrap.d/compute.filters"),
        samples=(model.ConfigSample("nova.conf", ("nova.conf",)),),
    )
    split = layout.plan_layout(nova)
    conffiles = context._conffiles(nova, split, "/opt/venvs/nova", "nova-common")
    assert [c["target"] for c in conffiles] == [
        "/etc/nova/api-paste.ini",
        "/etc/nova/nova-api-metadata-uwsgi.ini",
        "/etc/nova/nova-api-uwsgi.ini",
        "/etc/nova/rootwrap.conf",
        "/etc/nova/rootwrap.d/compute.filters",
    ]
    assert conffiles[0]["source"] == "debian/venv-nova/opt/venvs/nova/etc/nova/api-paste.ini"
    assert [c["target"] for c in context._configs(nova, "nova-common")] == ["/etc/nova/nova.conf"]


def test_descriptions_fit_lintians_width_for_any_project_name() -> None:
    from venvpkg.debianize import context

    name = "a-very-long-openstack-project-name-for-width"
    long = _model(name, [f"{name}-api-listener-engine", f"{name}-conductor-worker"])
    split = layout.plan_layout(long)
    rendered = context.build(
        context.Inputs(
            model=long,
            layout=split,
            target=targets.lookup("bookworm"),
            series_id="2025.2",
            series_label="2025.2 (flamingo)",
            version="90:1.0-1+deb12",
            requirements_package="openstack-requirements-2025.2",
            requirements_version="1",
            wheelhouse_dir="/usr/share/openstack-requirements-2025.2/wheelhouse",
            maintainer="m <m@example.invalid>",
        )
    )
    for package in rendered["packages"]:
        assert len(package["summary"]) <= 80, package["summary"]
        assert all(len(" " + line) <= 80 for line in package["description"]), package


def test_the_generic_split_finds_the_daemons_of_projects_debian_never_packaged() -> None:
    trove = layout.plan_layout(
        _model(
            "trove",
            [
                "trove-api",
                "trove-taskmanager",
                "trove-guestagent",
                "trove-conductor",
                "trove-manage",
            ],
        )
    )
    assert {s.name for s in trove.services} == {
        "trove-api",
        "trove-taskmanager",
        "trove-guestagent",
        "trove-conductor",
    }
    venus = layout.plan_layout(_model("venus", ["venus_api", "venus_manager", "venus_task"]))
    names = {p.name for p in venus.packages}
    assert {"venus-api", "venus-manager", "venus-task"} <= names
    api = next(s for s in venus.services if s.name == "venus-api")
    assert api.script == "venus_api"


def test_a_console_script_whose_module_the_wheel_lacks_is_left_out(tmp_path: Path) -> None:
    """blazar 16.0.0 still declares blazar-rpc-zmq-receiver, whose module is gone."""
    from tests.fixtures import packages

    files = {
        "fixdead/__init__.py": "",
        "fixdead/cmd/__init__.py": "",
        "fixdead/cmd/api.py": "def main():\n    pass\n",
        "fixdead-1.0.dist-info/entry_points.txt": (
            "[console_scripts]\n"
            "fixdead-api = fixdead.cmd.api:main\n"
            "fixdead-zmq-receiver = fixdead.cmd.rpc_zmq_receiver:main\n"
            "fixdead-rootwrap = oslo_rootwrap.cmd:main\n"
        ),
    }
    wheel = packages.make_wheel(tmp_path, "fixdead", "1.0", files)
    (tmp_path / "tree").mkdir()
    found = model.read("fixdead", wheel, tmp_path / "tree")
    assert found.dead_scripts == {"fixdead-zmq-receiver": "fixdead.cmd.rpc_zmq_receiver:main"}
    # A dependency's module (oslo.rootwrap's) is the runtime check's to judge.
    assert sorted(found.console_scripts) == ["fixdead-api", "fixdead-rootwrap"]
    planned = layout.plan_layout(found, None)
    packaged = {script for package in planned.packages for script in package.scripts}
    assert packaged == {"fixdead-api", "fixdead-rootwrap"}
    assert {p.name for p in planned.packages} == {
        "fixdead-api",
        "fixdead-common",
        "python3-fixdead",
        "venv-fixdead",
    }


def test_a_daemon_given_its_config_file_keeps_each_unit_directive_on_its_line() -> None:
    """swift's units pass the config file as an argument (no oslo.config): the argument
    ends ExecStart, and Restart= stays a directive of its own."""
    from venvpkg import rendering
    from venvpkg.debianize import render

    service = {"name": "swift-proxy", "script": "swift-proxy-server", "is_wsgi": False}
    context = {"project": "swift", "user": {"name": "swift"}, "oslo_config": False}
    unit = rendering.render(
        render.environment(None),
        "service.service.j2",
        context | {"service": service | {"args": "/etc/swift/proxy-server.conf"}},
    )
    lines = unit.splitlines()
    assert "ExecStart=/usr/bin/swift-proxy-server /etc/swift/proxy-server.conf" in lines
    assert "Restart=on-failure" in lines
    bare = rendering.render(
        render.environment(None),
        "service.service.j2",
        context | {"service": service | {"args": ""}},
    )
    assert "ExecStart=/usr/bin/swift-proxy-server" in bare.splitlines()


def test_swift_ships_its_own_config_layout_from_the_source_trees_samples() -> None:
    """No oslo.config generator: the daemons' files are the source tree's samples, under
    the names Debian's units pass (only those this release has)."""
    from venvpkg.debianize import context

    swift = dataclasses.replace(
        _model("swift", ["swift-proxy-server", "swift-object-server", "swift-ring-builder"]),
        source_etc=("proxy-server.conf-sample", "object-server.conf-sample", "swift.conf-sample"),
    )
    split = layout.plan_layout(swift)
    conffiles = {c["target"]: c["source"] for c in context._conffiles(swift, split, "", "swift")}
    assert conffiles == {
        "/etc/swift/object-server.conf": "etc/object-server.conf-sample",
        "/etc/swift/proxy-server.conf": "etc/proxy-server.conf-sample",
        "/etc/swift/swift.conf": "etc/swift.conf-sample",
    }


def test_each_neutron_agent_reads_its_own_file_and_the_file_is_generated(tmp_path: Path) -> None:
    """puppet-neutron writes l3_agent.ini, openvswitch_agent.ini, ...: the agent started
    with --config-file must be given its file, after neutron.conf, and the file must exist
    (oslo.config refuses a missing one), so its oslo-config-generator *.ini is a sample."""
    generators = tmp_path / "etc/oslo-config-generator"
    generators.mkdir(parents=True)
    (generators / "neutron.conf").write_text(
        "[DEFAULT]\noutput_file = etc/neutron.conf.sample\nnamespace = neutron\n"
    )
    (generators / "l3_agent.ini").write_text(
        "[DEFAULT]\noutput_file = etc/l3_agent.ini.sample\nnamespace = neutron.l3.agent\n"
    )
    (generators / "openvswitch_agent.ini").write_text(
        "[DEFAULT]\noutput_file = etc/neutron/plugins/ml2/openvswitch_agent.ini.sample\n"
        "namespace = neutron.ml2.ovs.agent\n"
    )
    samples = model._samples(tmp_path, "neutron", ())
    assert [s.filename for s in samples] == [
        "l3_agent.ini",
        "neutron.conf",
        "plugins/ml2/openvswitch_agent.ini",
    ]
    agents = ["neutron-l3-agent", "neutron-openvswitch-agent"]
    neutron = _model("neutron", agents, ("neutron.wsgi.api",))
    services = {s.name: s for s in layout.plan_layout(neutron).services}
    assert services["neutron-l3-agent"].args == "--config-file=/etc/neutron/l3_agent.ini"
    ovs = services["neutron-openvswitch-agent"].args
    assert ovs == "--config-file=/etc/neutron/plugins/ml2/openvswitch_agent.ini"


def test_a_daemons_own_config_file_comes_after_the_main_one() -> None:
    """oslo.config lets a later file win: the agent's settings override neutron.conf."""
    from venvpkg import rendering
    from venvpkg.debianize import render

    service = {"name": "neutron-l3-agent", "script": "neutron-l3-agent", "is_wsgi": False}
    service["args"] = "--config-file=/etc/neutron/l3_agent.ini"
    context = {"project": "neutron", "user": {"name": "neutron"}, "oslo_config": True}
    context |= {"main_config": "neutron.conf", "service": service}
    unit = rendering.render(render.environment(None), "service.service.j2", context)
    assert (
        "ExecStart=/usr/bin/neutron-l3-agent --config-file=/etc/neutron/neutron.conf "
        "--config-file=/etc/neutron/l3_agent.ini --log-file=/var/log/neutron/neutron-l3-agent.log"
    ) in unit.splitlines()


def test_horizon_is_a_django_site_laid_out_as_debians_openstack_dashboard(tmp_path: Path) -> None:
    """puppet's horizon module (Debian) installs openstack-dashboard-apache, runs
    /usr/share/openstack-dashboard/manage.py and serves .../wsgi.py at /horizon, with
    static files aliased from /var/lib/openstack-dashboard/static: ours must agree."""
    import ast

    from venvpkg.debianize import archive, context, render

    debian = archive.load("trixie", Path("/nonexistent")).sources["horizon"]
    # horizon registers oslo.config options (for its docs) and policy namespaces.
    sample = model.ConfigSample("horizon.conf", ("openstack_dashboard",))
    horizon = dataclasses.replace(
        _model("horizon", []), samples=(sample,), policy_namespaces=("horizon",)
    )
    split = layout.plan_layout(horizon, debian)
    roles = {p.name: p.role for p in split.packages}
    assert roles == {
        "venv-horizon": "venv",
        "python3-django-horizon": "python",
        "openstack-dashboard": "common",
        "openstack-dashboard-apache": "apache",
    }
    rendered = context.build(
        context.Inputs(
            model=horizon,
            layout=split,
            target=targets.lookup("trixie"),
            series_id="2025.2",
            series_label="2025.2 (flamingo)",
            version="90:1.0-1+deb13",
            requirements_package="openstack-requirements-2025.2",
            requirements_version="1",
            wheelhouse_dir="/usr/share/openstack-requirements-2025.2/wheelhouse",
            maintainer="m <m@example.invalid>",
        )
    )
    render.render_tree(rendered, tmp_path, None)
    site = (tmp_path / "apache/openstack-dashboard-alias-only.conf").read_text()
    assert "Alias /horizon/static /var/lib/openstack-dashboard/static" in site
    assert "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py" in site
    settings: dict[str, object] = {}
    for snippet in sorted((tmp_path / "django/settings.d").iterdir()):
        exec(snippet.read_text(), {}, settings)
    assert settings["WEBROOT"] == "/horizon/"
    assert settings["STATIC_ROOT"] == "/var/lib/openstack-dashboard/static/"
    assert settings["DEBUG"] is False
    wsgi = (tmp_path / "django/wsgi.py").read_text()
    ast.parse(wsgi)
    assert '"/opt/venvs/horizon/lib/python3.13/site-packages"' in wsgi
    manage = tmp_path / "django/manage.py"
    assert manage.read_text().startswith("#!/opt/venvs/horizon/bin/python\n")
    assert manage.stat().st_mode & 0o111
    installs = (tmp_path / "openstack-dashboard.install").read_text().splitlines()
    assert "debian/django/manage.py usr/share/openstack-dashboard" in installs
    apache = (tmp_path / "openstack-dashboard-apache.install").read_text()
    assert apache.split() == ["debian/apache/*.conf", "etc/apache2/sites-available"]
    stanza = (tmp_path / "control").read_text().split("Package: openstack-dashboard-apache\n")[1]
    assert "libapache2-mod-wsgi-py3" in stanza and "apache2," in stanza
    # Its settings are local_settings.py: no oslo.config file or policy.d in /etc/horizon.
    common = "".join(
        (tmp_path / f"openstack-dashboard.{part}").read_text() for part in ("dirs", "postinst")
    )
    assert "/etc/horizon" not in common and "etc/horizon" not in common
    rules = (tmp_path / "rules").read_text()
    assert "bin/oslo-config-generator" not in rules
    # Its policy files are conffiles in /etc/openstack-dashboard/policy, as Debian's are;
    # the venv reads them through the link its conf/ becomes.
    moved = "mv $(DJANGO)/conf debian/openstack-dashboard/etc/openstack-dashboard/policy"
    assert moved in rules
    assert "ln -s /etc/openstack-dashboard/policy $(DJANGO)/conf" in rules
