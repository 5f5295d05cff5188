"""Host devices through the daemon: ``--device`` in docker's form and as CDI names, and
``--gpus`` served by a CDI spec of kind ``nvidia.com/gpu`` (here: ordinary character devices
stand in for the GPU; the device machine, when a session has one, has real ``/dev/nvidia*``).

The CDI spec directory is the test's own (``DOCKYARD_CDI_SPEC_DIRS``), never ``/etc/cdi``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import Daemonized, daemonized

pytestmark = [pytest.mark.root]

READ_ONE = "head -c 4 {0} | od -An -tx1 | tr -d ' \\n'; echo"


@pytest.fixture
def cdi(tmp_path: Path) -> Iterator[tuple[Daemonized, Path]]:
    specs = tmp_path / "cdi"
    specs.mkdir()
    with daemonized(tmp_path, {"DOCKYARD_CDI_SPEC_DIRS": str(specs)}) as d:
        yield d, specs


def test_docker_device_flag(cdi: tuple[Daemonized, Path]) -> None:
    d, _ = cdi
    out = d.run("run", "--rm", "--device", "/dev/zero:/dev/myzero", "busybox", "sh", "-c",
                READ_ONE.format("/dev/myzero"))  # fmt: skip
    assert (out.returncode, out.stdout) == (0, "00000000\n"), out.stderr
    # a device outside docker's default rules (/dev/loop-control, 10:237): the cgroup
    # refuses to open it without the flag (the node can be made, not opened), allows it with
    probe = "test -e /dev/myzero || echo absent; mknod /dev/k c 10 237; exec 3</dev/k"
    denied = d.run("run", "--rm", "busybox", "sh", "-c", probe)
    assert "absent" in denied.stdout and denied.returncode != 0, denied
    assert "not permitted" in denied.stderr.lower(), denied.stderr
    allowed = d.run("run", "--rm", "--device", "/dev/loop-control:/dev/k:r", "busybox", "sh",
                    "-c", "exec 3</dev/k && echo open-ok")  # fmt: skip
    assert allowed.stdout == "open-ok\n", allowed.stderr
    # read-only permission: the cgroup refuses to open it for writing
    ro = d.run("run", "--rm", "--device", "/dev/loop-control:/dev/k:r", "busybox", "sh", "-c",
               "exec 3</dev/k && echo read-ok; exec 4>/dev/k && echo write-ok")  # fmt: skip
    assert "read-ok" in ro.stdout and "write-ok" not in ro.stdout, ro
    # bad input: one line, exit 125, nothing made
    bads = (
        ("/etc/passwd", "not a device"),
        ("/dev/nosuch", "no such file"),
        ("/dev/zero:/dev/z:rwx", "permissions"),
        ("dev/zero", "absolute"),
    )
    for bad, word in bads:
        r = d.run("run", "--rm", "--device", bad, "busybox", "true")
        assert r.returncode == 125 and word in r.stderr.lower(), (bad, r.stderr)
        errors = [x for x in r.stderr.splitlines() if not x.startswith("WARNING:")]
        assert len(errors) == 1, r.stderr
    assert d.out("ps", "-aq") == ""


def test_cdi_device_and_gpus(cdi: tuple[Daemonized, Path], tmp_path: Path) -> None:
    d, specs = cdi
    note = tmp_path / "note"
    note.write_text("from the spec\n")
    (specs / "example.json").write_text(json.dumps({
        "cdiVersion": "0.6.0",
        "kind": "example.com/dev",
        "containerEdits": {"env": ["CDI_VENDOR=example"]},
        "devices": [
            {"name": "zero", "containerEdits": {
                "deviceNodes": [{"path": "/dev/cdizero", "hostPath": "/dev/zero"}],
                "env": ["CDI_DEVICE=zero"],
                "mounts": [{"hostPath": str(note), "containerPath": "/etc/cdi-note",
                            "options": ["ro", "bind"]}]}},
            {"name": "null", "containerEdits": {
                "deviceNodes": [{"path": "/dev/cdinull", "hostPath": "/dev/null"}]}},
        ],
    }))  # fmt: skip
    script = 'echo "$CDI_VENDOR $CDI_DEVICE"; cat /etc/cdi-note; ' + READ_ONE.format("/dev/cdizero")
    out = d.run("run", "--rm", "--device", "example.com/dev=zero", "busybox", "sh", "-c", script)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "example zero\nfrom the spec\n00000000\n", out.stdout
    every = d.run("run", "--rm", "--device", "example.com/dev=all", "busybox", "sh", "-c",
                  "test -c /dev/cdizero && test -c /dev/cdinull && echo both")  # fmt: skip
    assert every.stdout == "both\n", every.stderr
    missing = d.run("run", "--rm", "--device", "example.com/dev=nosuch", "busybox", "true")
    assert missing.returncode == 125 and "not found" in missing.stderr, missing.stderr

    # --gpus without an nvidia.com/gpu spec: docker's words
    none = d.run("run", "--rm", "--gpus", "all", "busybox", "true")
    assert none.returncode == 125, none.stderr
    assert 'could not select device driver "" with capabilities: [[gpu]]' in none.stderr
    (specs / "gpu.yaml").write_text(
        "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n"
        "- name: '0'\n  containerEdits:\n"
        "    deviceNodes: [{path: /dev/nvidia0, hostPath: /dev/zero}]\n"
        "- name: '1'\n  containerEdits:\n"
        "    deviceNodes: [{path: /dev/nvidia1, hostPath: /dev/null}]\n"
    )
    gpus = d.run("run", "--rm", "--gpus", "all", "busybox", "sh", "-c", "ls /dev | grep nvidia")
    assert gpus.stdout.split() == ["nvidia0", "nvidia1"], gpus.stderr
    one = d.run("run", "--rm", "--gpus", "device=1", "busybox", "sh", "-c", "ls /dev | grep nvidia")
    assert one.stdout.split() == ["nvidia1"], one.stderr
