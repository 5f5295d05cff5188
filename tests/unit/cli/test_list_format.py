"""``--format`` on the list commands: ``table`` with docker's headers, ``json``, templates.

The daemon's answers come from a recording stand-in for the API client (the
commands' own code runs unchanged through ``dockyard.cli.main.main``); ``images``
reads a real, empty image store in a temporary root.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.cli import main as cli

CONTAINERS = [
    {
        "Id": "4fa6e0f0c6786287e131c3852c58a2e01cc697a6",
        "Names": ["/web"],
        "Image": "nginx",
        "Command": "nginx -g 'daemon off;'",
        "Created": 1_700_000_000,
        "State": "running",
        "Status": "Up 2 minutes",
        "Labels": {"tier": "front"},
        "Ports": [{"IP": "0.0.0.0", "PublicPort": 8080, "PrivatePort": 80, "Type": "tcp"}],
    },
    {
        "Id": "9b1d0c2a3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b",
        "Names": ["/db"],
        "Image": "postgres:16",
        "Command": "postgres",
        "Created": 1_700_000_100,
        "State": "exited",
        "Status": "Exited (0) 1 minute ago",
        "Labels": {},
        "Ports": [],
    },
]
VOLUMES = {
    "Volumes": [
        {
            "Name": "data",
            "Driver": "local",
            "Scope": "local",
            "Mountpoint": "/v/data/_data",
            "Labels": {"b": "2", "a": "1"},
        },
        {
            "Name": "cache",
            "Driver": "local",
            "Scope": "local",
            "Mountpoint": "/v/cache/_data",
            "Labels": None,
        },
    ]
}
NETWORKS = [
    {"Id": "0123456789abcdef0123", "Name": "bridge", "Driver": "bridge", "Scope": "local",
     "Created": "2026-01-01T00:00:00Z", "Labels": {}, "Internal": False},
    {"Id": "fedcba9876543210fedc", "Name": "backend", "Driver": "bridge", "Scope": "local",
     "Created": "2026-01-02T00:00:00Z", "Labels": {"env": "test"}, "Internal": True},
]  # fmt: skip


DF = {
    "LayersSize": 4_000_000,
    "Images": [{"Id": "sha256:a", "Size": 3_000_000, "Containers": 2},
               {"Id": "sha256:b", "Size": 1_000_000, "Containers": 0}],
    "Containers": [{"Id": "c1", "SizeRw": 500, "State": "running"},
                   {"Id": "c2", "SizeRw": 1500, "State": "exited"}],
    "Volumes": [{"Name": "data", "UsageData": {"Size": 0, "RefCount": 1}}],
    "BuildCache": [],
}  # fmt: skip


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def lines(self) -> list[str]:
        return self._lines


class FakeClient:
    """Answers ``get`` from a table of path prefixes, as the daemon would."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {
            "/containers/json": CONTAINERS,
            "/volumes": VOLUMES,
            "/networks": NETWORKS,
            "/system/df": DF,
        }

    def request(self, method: str, path: str) -> Any:
        assert method == "GET" and path.endswith("/stats?stream=0"), path
        cid = path.split("/")[2]
        stats = {"id": cid, "name": "/" + cid[:3], "pids_stats": {"current": 3},
                 "memory_stats": {"usage": 2_000_000, "limit": 8_000_000}}  # fmt: skip
        return _Lines([json.dumps(stats)])

    def get(self, path: str) -> Any:
        for prefix, answer in self.answers.items():
            if path.startswith(prefix):
                return answer
        raise AssertionError(f"unexpected request {path}")


@pytest.fixture
def dockyard(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Any:
    from dockyard.cli.commands import lifecycle

    monkeypatch.setattr(lifecycle, "client", lambda ctx: FakeClient())

    def run(*argv: str) -> tuple[int, str, str]:
        rc = cli.main(["--root", str(tmp_path / "root"), *argv])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run


def test_ps_table_has_docker_headers(dockyard: Any) -> None:
    rc, out, _ = dockyard("ps", "-a", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Ports}}")
    assert rc == 0
    assert out == (
        "CONTAINER ID   NAMES     PORTS\n"
        "4fa6e0f0c678   web       0.0.0.0:8080->80/tcp\n"
        "9b1d0c2a3e4f   db        \n"
    )


def test_ps_format_json_is_one_object_a_line(dockyard: Any) -> None:
    rc, out, _ = dockyard("ps", "-a", "--format", "json")
    lines = out.splitlines()
    assert rc == 0 and len(lines) == 2
    first = json.loads(lines[0])
    assert first["Names"] == "web" and first["State"] == "running"
    assert first["Labels"] == "tier=front"
    assert "Label" not in first  # a method, not a field: docker marshals fields only


def test_ps_table_alone_is_the_default_table(dockyard: Any) -> None:
    rc, out, _ = dockyard("ps", "-a", "--format", "table")
    header = out.splitlines()[0].split()
    assert rc == 0
    assert header == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]


def test_ps_label_method_as_docker(dockyard: Any) -> None:
    rc, out, _ = dockyard("ps", "-a", "--format", 'table {{.Names}}\\t{{.Label "tier"}}')
    assert rc == 0
    assert out == "NAMES     LABEL\nweb       front\ndb        \n"


def test_ps_go_template_with_conditions(dockyard: Any) -> None:
    tpl = '{{.Names}}{{if eq .State "running"}} up{{else}} down{{end}}'
    assert dockyard("ps", "-a", "--format", tpl)[1] == "web up\ndb down\n"


def test_volume_ls_table_and_json(dockyard: Any) -> None:
    rc, out, _ = dockyard("volume", "ls", "--format", "table {{.Name}}\\t{{.Labels}}")
    assert rc == 0
    assert out == "VOLUME NAME   LABELS\ndata          a=1,b=2\ncache         \n"
    rows = [json.loads(x) for x in dockyard("volume", "ls", "--format", "json")[1].splitlines()]
    assert [r["Name"] for r in rows] == ["data", "cache"]
    assert rows[0]["Mountpoint"] == "/v/data/_data"


def test_network_ls_table_and_json(dockyard: Any) -> None:
    fmt = "table {{.ID}}\\t{{.Name}}\\t{{.Internal}}"
    rc, out, _ = dockyard("network", "ls", "--format", fmt)
    assert rc == 0
    assert out == (
        "NETWORK ID     NAME      INTERNAL\n"
        "0123456789ab   bridge    false\n"
        "fedcba987654   backend   true\n"
    )
    rows = [json.loads(x) for x in dockyard("network", "ls", "--format", "json")[1].splitlines()]
    assert rows[1] == {"CreatedAt": "2026-01-02T00:00:00Z", "Driver": "bridge",
                       "ID": "fedcba987654", "IPv6": "false", "Internal": "true",
                       "Labels": "env=test", "Name": "backend", "Scope": "local"}  # fmt: skip


def test_stats_table_with_docker_headers(dockyard: Any) -> None:
    fmt = "table {{.Name}}\\t{{.MemUsage}}\\t{{.PIDs}}"
    rc, out, _ = dockyard("stats", "--no-stream", "--format", fmt, "abcdef", "xyz123")
    assert rc == 0
    assert out == (
        "NAME      MEM USAGE / LIMIT   PIDS\n"
        "abc       2MB / 8MB           3\n"
        "xyz       2MB / 8MB           3\n"
    )


def test_system_df_default_table_and_formats(dockyard: Any) -> None:
    rc, out, _ = dockyard("system", "df")
    assert rc == 0
    assert out == (
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"
        "Images          2         1         4MB       1MB (25%)\n"
        "Containers      2         1         2kB       1.5kB (75%)\n"
        "Local Volumes   1         1         0B        0B\n"
        "Build Cache     0         0         0B        0B\n"
    )
    out = dockyard("system", "df", "--format", "{{.Type}}: {{.Reclaimable}}")[1]
    assert out.splitlines()[0] == "Images: 1MB (25%)"
    first = json.loads(dockyard("system", "df", "--format", "json")[1].splitlines()[0])
    assert first == {"Active": "1", "Reclaimable": "1MB (25%)", "Size": "4MB",
                     "TotalCount": "2", "Type": "Images"}  # fmt: skip


def test_images_table_header_on_an_empty_store(dockyard: Any) -> None:
    rc, out, _ = dockyard("images", "--format", "table {{.Repository}}\\t{{.ID}}")
    assert (rc, out) == (0, "REPOSITORY   IMAGE ID\n")


def test_a_bad_template_on_a_list_command_is_one_line_and_exit_1(dockyard: Any) -> None:
    rc, out, err = dockyard("ps", "-a", "--format", "{{.Names}} {{.Nope}}")
    assert rc == 1 and out == ""
    assert err == (
        'dockyard: template: :1:13: executing "" at <.Nope>: map has no entry for key "Nope"\n'
    )
