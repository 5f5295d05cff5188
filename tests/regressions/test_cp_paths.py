"""Regression (issue 21, 3b): ``cp f web:/index.html`` failed ("destination directory does
not exist") where docker copies to that name when its parent exists; ``cp web:/etc/passwd
-`` wrote a local file named ``-`` instead of a tar stream on stdout; ``cp - web:/dir``
did not read a tar from stdin. docker cp's SRC_PATH/DEST_PATH rules, both directions."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from regress_kit import Daemonized, dyd

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]


def _ls(dyd: Daemonized, path: str) -> list[str]:
    return sorted(dyd.out("exec", "web", "find", path).split())


def test_cp_into_a_container(dyd: Daemonized, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("hello\n")
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "y").write_text("y")
    (d / "sub" / "x").write_text("x")
    dyd.out("run", "-d", "--name", "web", "busybox", "sleep", "60")
    dyd.out("cp", str(f), "web:/index.html")  # absent, its parent exists: the new name
    assert dyd.out("exec", "web", "cat", "/index.html") == "hello"
    dyd.out("cp", str(f), "web:/index.html")  # an existing file: replaced
    dyd.out("cp", str(d), "web:/copyd")  # absent: the directory under that name
    assert _ls(dyd, "/copyd") == ["/copyd", "/copyd/sub", "/copyd/sub/x", "/copyd/y"]
    dyd.out("cp", str(f), "web:/copyd")  # an existing directory: into it
    dyd.out("cp", f"{d}/.", "web:/tmp")  # SRC/.: the contents
    assert _ls(dyd, "/tmp") == ["/tmp", "/tmp/sub", "/tmp/sub/x", "/tmp/y"]
    assert "/copyd/f" in _ls(dyd, "/copyd")
    for dst, text in ((f"{f}", "web:/nodir/x"), (str(f), "web:/newdir/"),
                      (str(d), "web:/index.html")):  # fmt: skip
        p = dyd.run("cp", dst, text)
        assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(d / "y"), arcname="from-stdin")
    p = subprocess.run(dyd.argv("cp", "-", "web:/tmp"), input=buf.getvalue(),
                       capture_output=True, timeout=60, check=False)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert dyd.out("exec", "web", "cat", "/tmp/from-stdin") == "y"
    p = subprocess.run(dyd.argv("cp", "-", "web:/etc/passwd"), input=buf.getvalue(),
                       capture_output=True, timeout=60, check=False)  # fmt: skip
    assert p.returncode != 0 and b"must be a directory" in p.stderr


def test_cp_out_of_a_container(dyd: Daemonized, tmp_path: Path) -> None:
    dyd.out("run", "-d", "--name", "web", "busybox", "sleep", "60")
    p = subprocess.run(dyd.argv("cp", "web:/etc/passwd", "-"), capture_output=True,
                       timeout=60, check=False, cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tar:
        (member,) = tar.getmembers()
        assert member.name == "passwd"
        data = tar.extractfile(member)
        assert data is not None and data.read().startswith(b"root:")
    assert not (tmp_path / "-").exists()  # a tar on stdout, not a file named "-" here
    out = tmp_path / "out"
    out.mkdir()
    dyd.out("cp", "web:/etc/passwd", str(out / "pw"))  # absent: the new name
    assert (out / "pw").read_text().startswith("root:")
    dyd.out("cp", "web:/etc", str(out / "etcc"))
    assert (out / "etcc" / "passwd").is_file()
    dyd.out("cp", "web:/etc/.", str(out))  # SRC/.: the contents
    assert (out / "hostname").is_file()
    for target in (out / "nope" / "x", out / "pw"):  # no parent; a directory onto a file
        p = dyd.run("cp", "web:/etc", str(target))
        assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1, p.stderr
