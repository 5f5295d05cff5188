"""Case study: a small Python HTTP "model server", built multi-stage into a non-root image
on python:3.11-slim, run by the daemon with a published port, and asked for a prediction.

The builder stage "trains" the model (a least-squares line through the context's data,
written as JSON) and byte-compiles the server; the final stage copies only those two
files, as ``USER 1000``.  Everything stays offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_kit import IMAGE_CACHE, Daemonized, dyd

pytestmark = [pytest.mark.root, pytest.mark.slow]
__all__ = ["dyd"]

DOCKERFILE = """\
FROM python:3.11-slim AS train
WORKDIR /src
COPY data.csv train.py server.py ./
RUN python train.py data.csv > model.json && python -m py_compile server.py

FROM python:3.11-slim
WORKDIR /srv
COPY --from=train --chown=1000:1000 /src/model.json /src/server.py ./
USER 1000
EXPOSE 8080
CMD ["python", "server.py"]
"""

TRAIN = """\
import json, sys
xs, ys = zip(*(map(float, line.split(",")) for line in open(sys.argv[1]) if line.strip()))
n = len(xs)
mx, my = sum(xs) / n, sum(ys) / n
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
json.dump({"slope": slope, "intercept": my - slope * mx}, sys.stdout)
"""

SERVER = """\
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

MODEL = json.load(open("model.json"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        x = float(query.get("x", ["0"])[0])
        body = json.dumps({"y": MODEL["slope"] * x + MODEL["intercept"], "uid": os.getuid()})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())


HTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""


def _fetch(d: Daemonized, url: str, tries: int = 100) -> str:
    """GET ``url`` in the daemon's network namespace (the "host"), while the server starts."""
    get = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=2).read().decode())"
    )
    last = ""
    for _ in range(tries):
        p = subprocess.run(["nsenter", "-t", str(d.ns_pid), "-n", "--", sys.executable, "-c", get],
                           capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        if p.returncode == 0:
            return p.stdout
        last = (p.stderr.strip().splitlines() or [""])[-1]
        time.sleep(0.1)
    raise AssertionError(f"GET {url}: {last}")


def test_model_server_builds_small_non_root_and_answers(dyd: Daemonized, tmp_path: Path) -> None:
    archive = IMAGE_CACHE / "python_3.11-slim.tar"
    if not archive.is_file():
        pytest.skip(f"python:3.11-slim is not cached in {IMAGE_CACHE} (make setup builds it)")
    dyd.run("load", "-i", str(archive), check=True, timeout=120)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "data.csv").write_text("".join(f"{x},{2 * x + 1}\n" for x in range(10)))
    (ctx / "train.py").write_text(TRAIN)
    (ctx / "server.py").write_text(SERVER)
    proc = dyd.run("build", "-t", "model:1", str(ctx), timeout=300)
    assert proc.returncode == 0, proc.stderr

    image = json.loads(dyd.out("image", "inspect", "model:1"))[0]
    base = json.loads(dyd.out("image", "inspect", "python:3.11-slim"))[0]
    assert image["Config"]["User"] == "1000"
    assert image["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    # small: the base plus one layer, the model and the server (/srv is in the base already,
    # so WORKDIR adds nothing)
    assert len(image["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
    assert image["Size"] - base["Size"] < 64 * 1024

    dyd.out("run", "-d", "--name", "model", "-p", "127.0.0.1:18080:8080", "model:1")
    try:
        answer = json.loads(_fetch(dyd, "http://127.0.0.1:18080/predict?x=20"))
    except AssertionError as exc:
        logs = dyd.run("logs", "model")
        raise AssertionError(f"{exc}\nlogs: {logs.stdout}{logs.stderr}") from None
    assert answer == {"y": 41.0, "uid": 1000}
    dyd.out("rm", "-f", "model")
