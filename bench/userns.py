"""User namespaces: ``run --rm busybox true`` with ``--userns auto`` against without, and
against ``podman run --rm --userns=auto``, in one alternating run (docs/decisions/userns.md).

Two dockyardd, each in the bench's private network + mount namespace with its own state
root and subordinate-id files (never the host's ``/etc/subuid`` for dockyard): one shows
the image to user-namespaced containers through idmapped layers (this kernel's way), the
other through chowned copies (``DOCKYARD_USERNS_IDMAP=0``: the fallback for kernels before
5.19). podman's ``--userns=auto`` takes its ranges from the host's ``/etc/subuid`` and
``/etc/subgid`` (user ``containers``) and from no other file: a line is added for the run
where none exists and removed after it (that line only).

*Later starts*: the usual case, a range whose shifted image exists (or needs none): every
tool once per round, rotating, ``BENCH_USERNS_RUNS`` rounds (default 20).
*First start in a new range* against *a later one*, in pairs under the same load: a run in
a range never used, the same run again in that range, then a ``create`` holds the range
so that the next pair gets a new one (the allocators give the lowest free range);
``BENCH_USERNS_FIRST`` pairs (default 8) per tool.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import (
    IMAGE_CACHE,
    Dockyard,
    NsHolder,
    Result,
    Tool,
    remove_work,
    report,
    time_round_robin,
    tool,
)

RUNS = int(os.environ.get("BENCH_USERNS_RUNS", "20"))
FIRST = int(os.environ.get("BENCH_USERNS_FIRST", "8"))
CONTAINERS_LINE = "containers:3000000000:1000000000"

NONE = "dockyard run --rm --network none"
NONE_NOSPARE = "dockyard --network none, no spares"
AUTO = "dockyard --userns auto (idmapped layers)"
AUTO_COPY = "dockyard --userns auto (chowned copies)"
AUTO_BRIDGE = "dockyard --userns auto, default network"
HOST_BRIDGE = "dockyard run --rm, default network"
PM = "podman run --rm --network none"
PM_AUTO = "podman --userns=auto --network none"


def _dockyard(holder: NsHolder, work: Path, **env: str) -> Dockyard:
    """A dockyardd whose ranges come from files in ``work`` (its environment is ours when
    it starts: set for that moment only)."""
    work.mkdir()
    (work / "subuid").write_text("")
    (work / "subgid").write_text("")
    env = {"DOCKYARD_SUBUID": str(work / "subuid"), "DOCKYARD_SUBGID": str(work / "subgid"),
           **env}  # fmt: skip
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        d = Dockyard(holder, work)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    d.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"))
    return d


def _timed(argv: list[str], env: dict[str, str] | None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    dt = time.perf_counter() - t0
    return dt, "" if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr[-200:]}"


def _settled(d: Dockyard | None) -> None:
    """Wait until every range of ``d`` is held by a container record (``--rm`` releases
    after the exit code went out): the next run then takes the range just released."""
    if d is None:  # podman removes before it answers
        return
    import sqlite3

    deadline = time.monotonic() + 10
    with sqlite3.connect(d.root / "state.db") as db:
        while time.monotonic() < deadline:
            n = db.execute("SELECT count(*) FROM userns_ranges WHERE owner NOT IN "
                           "(SELECT id FROM containers)").fetchone()[0]  # fmt: skip
            if n == 0:
                return
            time.sleep(0.01)
    raise RuntimeError("a --rm did not release its range within 10 s")


def _first_and_later(name: str, run: list[str], hold: list[str], env: dict[str, str] | None,
                     d: Dockyard | None, n: int) -> list[Result]:  # fmt: skip
    """Pairs under the same load: ``run`` in a range never used (the first start), the
    same ``run`` again in that range (a later start), then ``hold`` (a create) takes the
    range, so the next pair gets a new one (the allocators give the lowest free range)."""
    first: list[float] = []
    later: list[float] = []
    for _ in range(n):
        for out in (first, later):
            dt, err = _timed(run, env)
            if err:
                return [Result(name + ", first in a range", first, err)]
            out.append(dt)
            _settled(d)
        held = subprocess.run(hold, capture_output=True, text=True, env=env, check=False)
        if held.returncode != 0:
            return [Result(name + ", first in a range", first, "hold: " + held.stderr[-200:])]
    return [Result(name + ", first in a range", first), Result(name + ", later", later)]


def _containers_line() -> list[str]:
    """Add podman's ``containers`` line where the host's files have none; the files added."""
    from dockyard.engine.userns import add_line

    added = []
    for path in ("/etc/subuid", "/etc/subgid"):
        text = Path(path).read_text() if Path(path).exists() else ""
        if not any(line.startswith("containers:") for line in text.splitlines()):
            add_line(path, CONTAINERS_LINE)
            added.append(path)
    return added


def main() -> str:
    from bench.daemon import Podman

    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-userns-"))
    holder = NsHolder()
    daemons: list[Dockyard] = []
    podman: Podman | None = None
    added: list[str] = []
    try:
        idm = _dockyard(holder, work / "idmap")
        daemons.append(idm)
        cp = _dockyard(holder, work / "copy", DOCKYARD_USERNS_IDMAP="0")
        daemons.append(cp)
        # a user-namespaced container is never prepared ahead (decisions/0005): the same
        # start without the spare pool shows what the namespace itself costs
        ns = _dockyard(holder, work / "nospare", DOCKYARD_SPARES="0")
        daemons.append(ns)
        bb = ["busybox", "true"]
        tools = [
            Tool(NONE, lambda i: idm.argv("run", "--rm", "--network", "none", *bb)),
            Tool(NONE_NOSPARE, lambda i: ns.argv("run", "--rm", "--network", "none", *bb)),
            Tool(AUTO, lambda i: idm.argv("run", "--rm", "--network", "none",
                                          "--userns", "auto", *bb)),
            Tool(AUTO_COPY, lambda i: cp.argv("run", "--rm", "--network", "none",
                                              "--userns", "auto", *bb)),
            Tool(HOST_BRIDGE, lambda i: idm.argv("run", "--rm", *bb)),
            Tool(AUTO_BRIDGE, lambda i: idm.argv("run", "--rm", "--userns", "auto", *bb)),
        ]  # fmt: skip
        missing: list[Result] = []
        if tool("podman") is None:
            missing += [Result(PM, [], "not installed"), Result(PM_AUTO, [], "not installed")]
        else:
            added = _containers_line()
            podman = Podman(work, holder, idm.argv())
            pm = podman
            tools += [
                Tool(PM, lambda i: pm.argv("run", "--rm", "--network", "none",
                                           "busybox:latest", "true"), pm.env),
                Tool(PM_AUTO, lambda i: pm.argv("run", "--rm", "--network", "none",
                                                "--userns=auto", "busybox:latest", "true"),
                     pm.env),
            ]  # fmt: skip
        later = time_round_robin(tools, RUNS) + missing
        auto_run = ["run", "--rm", "--network", "none", "--userns", "auto", *bb]
        hold = ["create", "--network", "none", "--userns", "auto", *bb]
        first = [
            *_first_and_later(AUTO, idm.argv(*auto_run), idm.argv(*hold), None, idm, FIRST),
            *_first_and_later(AUTO_COPY, cp.argv(*auto_run), cp.argv(*hold), None, cp, FIRST),
        ]
        if podman is not None:
            first += _first_and_later(
                PM_AUTO,
                podman.argv("run", "--rm", "--network", "none", "--userns=auto",
                            "busybox:latest", "true"),
                podman.argv("create", "--network", "none", "--userns=auto", "busybox:latest",
                            "true"),
                podman.env, None, FIRST)  # fmt: skip
        failed = [r for r in later + first if r.error]
        notes = [f"({d.root.parent.name} daemon.log: "
                 f"{' | '.join((d.root / 'daemon.log').read_text().splitlines()[-4:])})"
                 for d in daemons] if failed else []  # fmt: skip
        return "\n\n".join([
            report("--userns auto vs without vs podman --userns=auto (later starts)", later,
                   AUTO, {NONE: 1.25, NONE_NOSPARE: 1.25, AUTO_COPY: 1.1, PM_AUTO: 0.5}),
            report("the same, default network", later, AUTO_BRIDGE, {HOST_BRIDGE: 1.25}),
            report("podman: --userns=auto vs without", later, PM_AUTO, {PM: 2.0}),
            report("first start in a new range vs a later one (pairs, same load)", first,
                   AUTO + ", first in a range",
                   {AUTO + ", later": 1.25, AUTO_COPY + ", first in a range": 1.0,
                    PM_AUTO + ", first in a range": 0.5}),
            report("chowned copies: first start in a new range vs a later one", first,
                   AUTO_COPY + ", first in a range", {AUTO_COPY + ", later": 3.0}),
            *notes,
        ])  # fmt: skip
    finally:
        for d in daemons:
            d.close()
        if podman is not None:
            podman.cleanup()
        from dockyard.engine.userns import remove_line

        for path in added:
            remove_line(path, CONTAINERS_LINE)
        time.sleep(0.5)  # (the daemons' last unmounts, after their SIGTERM)
        holder.close()
        remove_work(work)


if __name__ == "__main__":
    print(main())
