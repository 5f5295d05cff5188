"""Independent stages build at the same time; progress and errors as a sequential build's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import Dockyard

pytestmark = pytest.mark.root

PARALLEL = """\
FROM busybox AS a
RUN cat /proc/uptime > /a && sleep 2 && cat /proc/uptime >> /a
FROM busybox AS b
RUN cat /proc/uptime > /b && sleep 2 && cat /proc/uptime >> /b
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
RUN cat /a /b > /ab
CMD ["cat", "/ab"]
"""

FAILING = """\
FROM busybox AS slow
RUN sleep 1 && exit 3
FROM busybox AS fast
RUN exit 4
FROM busybox
COPY --from=slow /bin/true /x
COPY --from=fast /bin/true /y
"""


def _build(dy: Dockyard, ctx: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(dy.argv("build", "--progress", "plain", *args, str(ctx)),
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def _titles(log: str) -> list[str]:
    return re.findall(r"^#\d+ (\[[^\]]+ \d+/\d+\] .*)$", log, re.M)


def test_independent_stages_run_at_the_same_time(dy_fresh: Dockyard, tmp_path: Path) -> None:
    dy_fresh.ensure("busybox:latest")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(PARALLEL)
    proc = _build(dy_fresh, ctx, "-t", "par:1")
    assert proc.returncode == 0, proc.stderr
    # each RUN wrote the host's uptime (not namespaced) when it began and when it ended:
    # the two intervals overlap however fast or slow the machine is
    out = dy_fresh.run("run", "--rm", "par:1", check=True).stdout
    a0, a1, b0, b1 = (float(line.split()[0]) for line in out.splitlines())
    assert max(a0, b0) < min(a1, b1), f"a ran {a0}-{a1}, b ran {b0}-{b1}: not in parallel"
    # the progress is in plan order, numbered as a sequential build numbers it
    expected = [
        "[a 1/2] FROM busybox",
        "[a 2/2] RUN cat /proc/uptime > /a && sleep 2 && cat /proc/uptime >> /a",
        "[b 1/2] FROM busybox",
        "[b 2/2] RUN cat /proc/uptime > /b && sleep 2 && cat /proc/uptime >> /b",
        "[stage-2 1/4] FROM busybox", "[stage-2 2/4] COPY --from=a /a /a",
        "[stage-2 3/4] COPY --from=b /b /b", "[stage-2 4/4] RUN cat /a /b > /ab",
    ]  # fmt: skip
    assert _titles(proc.stderr) == expected
    assert re.findall(r"^#(\d+) \[", proc.stderr, re.M) == [str(n) for n in range(1, 10)]
    again = _build(dy_fresh, ctx, "-t", "par:1")  # replayed from the memo, same lines
    assert _titles(again.stderr) == expected
    assert "DONE" not in again.stderr


def test_the_error_is_the_first_failing_stage_in_plan_order(dy_fresh: Dockyard,
                                                             tmp_path: Path) -> None:  # fmt: skip
    dy_fresh.ensure("busybox:latest")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(FAILING)
    for _ in range(2):
        proc = _build(dy_fresh, ctx, "--no-cache", "-t", "bad:1")
        assert proc.returncode == 1
        assert (
            'Dockerfile:2: process "/bin/sh -c sleep 1 && exit 3" did not complete '
            "successfully: exit code: 3" in proc.stderr
        ), proc.stderr
        assert "exit code: 4" not in proc.stderr
        assert _titles(proc.stderr) == ["[slow 1/2] FROM busybox",
                                        "[slow 2/2] RUN sleep 1 && exit 3"]  # fmt: skip
    assert dy_fresh.run("image", "inspect", "bad:1").returncode != 0
