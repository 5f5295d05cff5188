"""``compose exec`` and ``compose run``.

- ``exec [-T] [-d] [-e K=V] [-u USER] [-w DIR] [--index N] SERVICE CMD...``: the command
  in the service's running container (its N-th pod, 1 by default), as ``dockyard exec``
  runs it; a terminal only when stdin is one and ``-T`` is not given.
- ``run [--rm] [-d] [-e K=V] [--name N] [--entrypoint E] [-u USER] [-w DIR] [-T]
  SERVICE [CMD...]``: a one-off bare Pod from the service's pod template (its networks,
  volumes, environment), labelled ``dockyard.io/compose-oneoff``, restartPolicy Never; its
  output is followed until it exits and its exit status is ours (``--rm``: removed after).
  stdin is not attached (the pod's container is started by the orchestrator).

Their flags are parsed here (:func:`parse_one_off`): the words after the action are the
one-off's own, a command's flags included.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context
    from dockyard.orchestrator.compose import ComposeProject

__all__ = ["ONEOFF", "exec_in_service", "parse_one_off", "run_one_off", "service_pods"]

ONEOFF = "dockyard.io/compose-oneoff"

# flag -> (dest, takes a value)
_EXEC_FLAGS = {
    "-T": ("no_tty", False), "--no-TTY": ("no_tty", False), "--no-tty": ("no_tty", False),
    "-d": ("detach", False), "--detach": ("detach", False),
    "-i": ("interactive", False), "--interactive": ("interactive", False),
    "-t": ("tty", False), "--tty": ("tty", False),
    "-e": ("env", True), "--env": ("env", True), "-u": ("user", True), "--user": ("user", True),
    "-w": ("workdir", True), "--workdir": ("workdir", True), "--index": ("index", True),
    "--privileged": ("privileged", False),
}  # fmt: skip

_RUN_FLAGS = {
    **_EXEC_FLAGS, "--rm": ("rm", False), "--name": ("name", True),
    "--entrypoint": ("entrypoint", True), "--no-deps": ("no_deps", False),
}  # fmt: skip


def parse_one_off(action: str, argv: list[str]) -> dict[str, Any]:
    """The words after ``exec``/``run``: flags, SERVICE, then the command as given."""
    table = _EXEC_FLAGS if action == "exec" else _RUN_FLAGS
    out: dict[str, Any] = {dest: [] if dest == "env" else None for dest, _v in table.values()}
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        flag, eq, inline = argv[i].partition("=")
        if flag not in table:
            raise InvalidArgument(f"compose {action}: unknown flag: {flag}")
        dest, takes = table[flag]
        if takes:
            if not eq:
                if i + 1 >= len(argv):
                    raise InvalidArgument(f"compose {action}: flag needs an argument: {flag}")
                inline, i = argv[i + 1], i + 1
            out[dest] = [*out[dest], inline] if dest == "env" else inline
        else:
            out[dest] = True
        i += 1
    if i < len(argv) and argv[i] == "--":
        i += 1
    if i >= len(argv):
        raise InvalidArgument(f"compose {action}: a SERVICE is required")
    out["service"], out["cmd"] = argv[i], argv[i + 1 :]
    if action == "exec" and not out["cmd"]:
        raise InvalidArgument("compose exec: a COMMAND is required")
    return out


def service_pods(c: Client, project: ComposeProject, service: str) -> list[dict[str, Any]]:
    from dockyard.cli.commands.compose.up import _pods

    pods = [p for p in _pods(c, project.name, service)
            if not p["metadata"].get("deletionTimestamp")
            and ONEOFF not in (p["metadata"].get("labels") or {})]  # fmt: skip
    return sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""))


def exec_in_service(ctx: Context, c: Client, project: ComposeProject, one: dict[str, Any]) -> int:
    from dockyard.cli.commands import cexec

    service = one["service"]
    running = [p for p in service_pods(c, project, service)
               if (p.get("status") or {}).get("phase") == "Running"]  # fmt: skip
    index = int(one["index"] or 1)
    if not running or not 1 <= index <= len(running):
        raise FailedPrecondition(f"service {service!r} is not running")
    pod = running[index - 1]
    cids = [str(s.get("containerID", "")).removeprefix("dockyard://")
            for s in (pod.get("status") or {}).get("containerStatuses") or []]  # fmt: skip
    if not cids or not cids[0]:
        raise FailedPrecondition(f"service {service!r} has no container yet")
    terminal = sys.stdin.isatty() and not one["no_tty"]
    ns = argparse.Namespace(
        container=cids[0], command=list(one["cmd"]), detach=bool(one["detach"]),
        interactive=bool(one["interactive"]) or (terminal and not one["detach"]),
        tty=bool(one["tty"]) or (terminal and not one["detach"]),
        user=one["user"], env=list(one["env"]), workdir=one["workdir"],
        privileged=bool(one["privileged"]), detach_keys=None, pod_container=None,
        namespace=None,
    )  # fmt: skip
    return int(cexec.run(ctx, ns, "exec"))


def run_one_off(c: Client, project: ComposeProject, one: dict[str, Any]) -> int:
    """A one-off pod of the service, followed to its exit."""
    import secrets

    from dockyard.cli.commands.kube.resources import path
    from dockyard.orchestrator.compose import SERVICE_LABEL, object_name
    from dockyard.orchestrator.export import to_dict

    service = one["service"]
    mine = [o for o in project.objects if o.kind in ("Deployment", "Pod")]
    workload = next(
        (o for o in mine if o.metadata.labels.get(SERVICE_LABEL) == object_name(service)), None
    )
    if workload is None:
        raise NotFound(f"no such service: {service}")
    from dockyard.cli.commands.compose.up import ensure_networks

    ensure_networks(c, project, {service})
    d = to_dict(workload)
    template = d if d["kind"] == "Pod" else d["spec"]["template"]
    meta = dict(template.get("metadata") or {})
    name = (
        one["name"]
        or f"{object_name(project.name)}-{object_name(service)}-run-{secrets.token_hex(3)}"
    )
    meta.update(name=name, labels={**(meta.get("labels") or {}), ONEOFF: "true"})
    annotations = dict(meta.get("annotations") or {})
    annotations.pop("dockyard.io/container-name", None)  # the service's own keeps its name
    meta["annotations"] = annotations
    spec = dict(template["spec"])
    container = dict(spec["containers"][0])
    if one["cmd"]:
        container["args"] = list(one["cmd"])
    if one["entrypoint"]:
        import shlex

        container["command"] = shlex.split(one["entrypoint"])
    env = list(container.get("env") or [])
    for item in one["env"]:
        k, _s, v = item.partition("=")
        env = [e for e in env if e.get("name") != k] + [{"name": k, "value": v}]
    container["env"] = env
    if one["workdir"]:
        container["workingDir"] = one["workdir"]
    container.pop("readinessProbe", None)
    spec.update(containers=[container, *spec["containers"][1:]], restartPolicy="Never")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    c.request("POST", "/apis/dockyard.io/v1/apply", {"items": [pod], "namespace": "default"}).read()
    cid = _wait_container(c, name)
    if one["detach"]:
        print(name)
        return 0
    resp = c.request("GET", f"/containers/{quote(cid, safe='')}/logs?stdout=1&stderr=1&follow=1")
    for kind, data in resp.frames():
        f = sys.stdout.buffer if kind == 1 else sys.stderr.buffer
        f.write(data)
        f.flush()
    code = int(
        c.request("POST", f"/containers/{quote(cid, safe='')}/wait", {}).json()["StatusCode"]
    )
    if one["rm"]:
        c.request("DELETE", path("pods", "default", name)).read()
    return code


def _wait_container(c: Client, pod: str, timeout: float = 120.0) -> str:
    from dockyard.cli.commands.kube.resources import path

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = c.get(path("pods", "default", pod))
        st = p.get("status") or {}
        for s in st.get("containerStatuses") or []:
            started = {"running", "terminated"} & set(s.get("state") or {})
            if s.get("containerID") and started:  # created is not yet started: logs race
                return str(s["containerID"]).removeprefix("dockyard://")
        why = st.get("reason")
        if why and st.get("phase") == "Pending" and why != "ContainerCreating":
            more = f": {st['message']}" if st.get("message") else ""
            raise FailedPrecondition(f"compose run: pod {pod}: {why}{more}")
        time.sleep(0.1)
    raise FailedPrecondition(f"compose run: pod {pod} did not start in {timeout:.0f}s")
