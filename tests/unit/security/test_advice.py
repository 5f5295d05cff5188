"""Least-privilege warnings (security/advice.py) and the recorded security summary
(security/summary.py): pure decisions, tested by table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.security.advice import is_root, manifest_warnings, pod_specs, run_warnings
from dockyard.security.summary import read_summary, record_lint, record_scan


@pytest.mark.parametrize(
    ("user", "root"),
    [("", True), ("0", True), ("root", True), ("0:0", True), ("root:staff", True),
     (" ", True), ("1000", False), ("app", False), ("1000:0", False), ("rooty", False)],
)  # fmt: skip
def test_is_root(user: str, root: bool) -> None:
    assert is_root(user) is root


def test_run_warnings() -> None:
    both = run_warnings("img", privileged=True, image_user="", user="")
    assert len(both) == 2 and both[0].startswith("--privileged") and "no USER" in both[1]
    assert run_warnings("img", privileged=False, image_user="app", user="") == []
    assert run_warnings("img", privileged=False, image_user="", user="1000") == []
    assert "USER root" in run_warnings("img", privileged=False, image_user="root", user="")[0]
    # an explicit root --user warns whatever the image says
    assert run_warnings("img", privileged=False, image_user="app", user="0:0") == [
        "img: runs as root (--user 0:0)"
    ]
    # an image not in the store yet: no USER to judge
    assert run_warnings("img", privileged=False, image_user=None, user="") == []
    assert all("\n" not in w for w in both)


def _pod(sc: dict[str, Any] | None = None, pod_sc: dict[str, Any] | None = None,
         image: str = "busybox") -> dict[str, Any]:  # fmt: skip
    c: dict[str, Any] = {"name": "app", "image": image}
    if sc is not None:
        c["securityContext"] = sc
    spec: dict[str, Any] = {"containers": [c]}
    if pod_sc is not None:
        spec["securityContext"] = pod_sc
    return {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def _users(table: dict[str, str]) -> Any:
    return table.get


def test_pod_warnings() -> None:
    root_image = _users({"busybox": ""})
    [w] = manifest_warnings(_pod({"privileged": True, "runAsUser": 1000}), root_image)
    assert w.startswith("pod/p container app: privileged")
    [w] = manifest_warnings(_pod(), root_image)
    assert w == (
        "pod/p container app: runs as root (no USER in image busybox);"
        " set runAsUser or a non-root USER"
    )
    assert manifest_warnings(_pod({"runAsUser": 1000}), root_image) == []
    assert manifest_warnings(_pod(pod_sc={"runAsUser": 1000}), root_image) == []
    assert manifest_warnings(_pod({"runAsNonRoot": True}), root_image) == []
    assert manifest_warnings(_pod(), _users({"busybox": "1000"})) == []
    assert manifest_warnings(_pod(), _users({})) == []  # image not known here
    [w] = manifest_warnings(_pod({"runAsUser": 0}), _users({"busybox": "1000"}))
    assert w.endswith("runs as root (runAsUser: 0)")
    # the container's securityContext wins over the pod's
    assert manifest_warnings(_pod({"runAsUser": 1000}, {"runAsUser": 0}), root_image) == []
    # the pod's privileged is merged as enginepods merges it
    assert len(manifest_warnings(_pod(None, {"privileged": True, "runAsUser": 5}), root_image))


def test_pod_specs_of_each_kind() -> None:
    pod = {"containers": [{"name": "a", "image": "x"}]}
    tmpl = {"template": {"spec": pod}}
    for kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        assert list(pod_specs({"kind": kind, "spec": tmpl})) == [pod]
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": tmpl}}}
    assert list(pod_specs(cron)) == [pod]
    assert list(pod_specs({"kind": "Service", "spec": {"ports": []}})) == []
    assert list(pod_specs({"kind": "Pod", "spec": "junk"})) == []
    dep = {"kind": "Deployment", "metadata": {"name": "web"}, "spec": tmpl}
    [w] = manifest_warnings(dep, _users({"x": "root"}))
    assert w.startswith("deployment/web container a: runs as root (USER root")


def _lint_report() -> Any:
    from dockyard.security.lint import LintConfig, lint_text

    return lint_text("FROM busybox\nCMD echo hi\n", "Dockerfile", LintConfig())


def test_summary_records_lint_and_scan(tmp_path: Path) -> None:
    image_id = "sha256:" + "ab" * 32
    assert read_summary(tmp_path, image_id) == {}
    report = _lint_report()
    record_lint(tmp_path, image_id, report)
    lint = read_summary(tmp_path, image_id)["lint"]
    assert lint["findings"] == len(report.findings) > 0
    assert "DL3006" in lint["rules"] and lint["file"] == "Dockerfile"

    class Inv:
        packages = [object()] * 3

    class F:
        def __init__(self, severity: str, fixed: str) -> None:
            self.severity, self.fixed = severity, fixed

    found: list[Any] = [F("HIGH", "1.2"), F("HIGH", ""), F("LOW", "")]
    record_scan(tmp_path, image_id, Inv(), found)  # type: ignore[arg-type]
    both = read_summary(tmp_path, image_id)
    assert both["lint"] == lint  # the scan did not replace the lint summary
    assert both["scan"]["severities"] == {"HIGH": 2, "LOW": 1}
    assert both["scan"]["packages"] == 3 and both["scan"]["fixable"] == 1
    # a damaged file reads as no summary; a bad id is refused
    (tmp_path / "security" / f"{'ab' * 32}.json").write_text("{")
    assert read_summary(tmp_path, image_id) == {}
    from dockyard.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        read_summary(tmp_path, "sha256:../../etc")
    assert not list((tmp_path / "security").glob("*.tmp*"))
    json.dumps(both)


def test_the_run_path_stays_lean() -> None:
    """``dockyard run`` imports security/advice.py on every run: it must import none of
    the modules the run path avoids (tests/unit/cli/test_run_flags.py)."""
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[3] / "src")
    code = (
        f"import sys; sys.path[:0] = [{src!r}]\n"
        "from dockyard.cli.commands import run\n"
        "import dockyard.cli.main, dockyard.cli.client\n"
        "from dockyard.security.advice import enabled, run_warnings\n"
        "assert enabled() and run_warnings('b', privileged=True, image_user='', user='')\n"
        "heavy = {'argparse', 'typing', 'enum', 'contextlib', 'signal', 'json', 'pathlib',\n"
        "         're', 'sqlite3', 'ctypes', 'dockyard.store.images', 'logging'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    env = {"DOCKYARD_SECURITY_WARNINGS": "1"}
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True, env=env)  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_apply_warns_without_a_state_root_and_makes_none(tmp_path: Path) -> None:
    """``apply`` (here a client dry run) warns for a privileged pod even where there is no
    state root to look images up in, and does not create one to give advice."""
    import os
    import subprocess
    import sys

    f = tmp_path / "pod.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: priv}\nspec:\n  containers:\n"
        "  - {name: app, image: busybox, securityContext: {privileged: true}}\n"
    )
    root, run_root = tmp_path / "root", tmp_path / "run"
    env = {**os.environ, "DOCKYARD_SECURITY_WARNINGS": "1"}
    argv = [sys.executable, "-m", "dockyard.cli.main", "--root", str(root),
            "--run-root", str(run_root), "apply", "--dry-run=client", "-f", str(f)]  # fmt: skip
    p = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    assert p.stdout == "pod/priv created (dry run)\n"
    assert p.stderr.startswith("Warning: pod/priv container app: privileged: ")
    assert p.stderr.count("\n") == 1 and not root.exists()
    env["DOCKYARD_SECURITY_WARNINGS"] = "0"
    assert subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stderr == ""
