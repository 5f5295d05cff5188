"""The demo's inference service: a recommendation model behind a small HTTP server.

Endpoints
  POST /predict   {"user": 7, "k": 5} -> {"user": 7, "items": [{"item": 12, "score": 0.93}, ...],
                  "model_version": "1"}; 400 with {"error": ...} for bad input
  GET  /healthz   200 "ok" once the model is loaded and answers; 503 with the reason otherwise
                  (the Deployment's readiness probe)
  GET  /metrics   Prometheus text: requests by path and code, a latency histogram, in-flight
                  requests, the model version

The model is the TFLite flatbuffer that train.py wrote, run by the LiteRT interpreter
(`ai_edge_litert`); MODEL_RUNTIME=tensorflow loads the Keras model with full TensorFlow
instead (used only to measure the two against each other: docs/decisions/demo-model-runtime.md).

SIGTERM: the server stops accepting, answers what it has accepted, and exits 0.
Environment: PORT (8080), MODEL_DIR (/app/model), CPU_WORK (extra scoring passes per request,
default 1: the demo's load is CPU-bound like a real model's).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Model:
    """Loads model.tflite (or the Keras model) and scores every item for one user."""

    def __init__(self, model_dir: Path, runtime: str) -> None:
        meta = json.loads((model_dir / "model.json").read_text())
        self.version = str(meta["version"])
        self.users = int(meta["users"])
        self.lock = threading.Lock()
        if runtime == "tensorflow":
            import tensorflow as tf

            keras_model = tf.keras.models.load_model(model_dir / "model.keras", compile=False)
            self._score = lambda u: keras_model(u, training=False).numpy()
        else:
            from ai_edge_litert.interpreter import Interpreter

            interp = Interpreter(model_path=str(model_dir / "model.tflite"), num_threads=1)
            interp.allocate_tensors()
            inp = interp.get_input_details()[0]["index"]
            out = interp.get_output_details()[0]["index"]

            def score(u: np.ndarray) -> np.ndarray:
                interp.set_tensor(inp, u)
                interp.invoke()
                return interp.get_tensor(out)

            self._score = score
        self.predict(0, 1)  # a model that cannot answer is not ready

    def predict(self, user: int, k: int) -> list[dict[str, Any]]:
        with self.lock:
            scores = self._score(np.array([[user]], dtype=np.int32))[0]
        top = np.argsort(-scores)[:k]
        return [{"item": int(i), "score": round(float(scores[i]), 4)} for i in top]


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0
        self.in_flight = 0

    def observe(self, path: str, code: int, seconds: float) -> None:
        with self.lock:
            self.requests[(path, code)] += 1
            self.latency_sum += seconds
            i = next((n for n, b in enumerate(BUCKETS) if seconds <= b), len(BUCKETS))
            self.buckets[i] += 1

    def render(self, version: str) -> str:
        with self.lock:
            lines = ["# TYPE inference_requests_total counter"]
            for (path, code), n in sorted(self.requests.items()):
                lines.append(f'inference_requests_total{{path="{path}",code="{code}"}} {n}')
            lines.append("# TYPE inference_request_duration_seconds histogram")
            cum = 0
            for b, n in zip((*BUCKETS, float("inf")), self.buckets, strict=True):
                cum += n
                le = "+Inf" if b == float("inf") else repr(b)
                lines.append(f'inference_request_duration_seconds_bucket{{le="{le}"}} {cum}')
            lines.append(f"inference_request_duration_seconds_sum {self.latency_sum:.6f}")
            lines.append(f"inference_request_duration_seconds_count {cum}")
            lines.append("# TYPE inference_in_flight_requests gauge")
            lines.append(f"inference_in_flight_requests {self.in_flight}")
            lines.append("# TYPE inference_model_info gauge")
            lines.append(f'inference_model_info{{version="{version}"}} 1')
        return "\n".join(lines) + "\n"


class State:
    model: Model | None = None
    error = "loading"
    version = os.environ.get("MODEL_VERSION", "?")
    metrics = Metrics()
    cpu_work = max(1, int(os.environ.get("CPU_WORK", "1")))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "inference/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would be the demo's bottleneck

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, obj: Any) -> None:
        self._send(code, json.dumps(obj).encode())

    def do_GET(self) -> None:
        start = time.perf_counter()
        if self.path == "/healthz":
            if State.model is None:
                self._json(503, {"status": "not ready", "reason": State.error})
                code = 503
            else:
                self._send(200, b"ok\n", "text/plain")
                code = 200
        elif self.path == "/metrics":
            body = State.metrics.render(State.version).encode()
            self._send(200, body, "text/plain; version=0.0.4")
            code = 200
        else:
            self._json(404, {"error": f"no such path: {self.path}"})
            code = 404
        State.metrics.observe(
            self.path if code != 404 else "other", code, time.perf_counter() - start
        )

    def do_POST(self) -> None:
        start = time.perf_counter()
        with State.metrics.lock:
            State.metrics.in_flight += 1
        try:
            code = self._predict()
        finally:
            with State.metrics.lock:
                State.metrics.in_flight -= 1
        State.metrics.observe("/predict", code, time.perf_counter() - start)

    def _predict(self) -> int:
        if self.path != "/predict":
            self._json(404, {"error": f"no such path: {self.path}"})
            return 404
        length = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(min(length, 65536)) or b"null")
            user, k = req["user"], req.get("k", 5)
            if not isinstance(user, int) or not isinstance(k, int) or not 1 <= k <= 50:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            self._json(400, {"error": 'expected {"user": INT, "k": 1..50}'})
            return 400
        model = State.model
        if model is None:
            self._json(503, {"error": State.error})
            return 503
        if not 0 <= user < model.users:
            self._json(400, {"error": f"user must be in 0..{model.users - 1}"})
            return 400
        for _ in range(State.cpu_work - 1):
            model.predict(user, k)
        items = model.predict(user, k)
        self._json(200, {"user": user, "items": items, "model_version": model.version})
        return 200


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    model_dir = Path(os.environ.get("MODEL_DIR", "/app/model"))
    runtime = os.environ.get("MODEL_RUNTIME", "litert")
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = False  # SIGTERM: in-flight requests finish before exit
    server.block_on_close = True

    def on_term(signum: int, frame: object) -> None:
        print("SIGTERM: draining", flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.perf_counter()
    try:
        State.model = Model(model_dir, runtime)
        State.version = State.model.version
        print(
            f"model v{State.version} loaded ({runtime}) in {time.perf_counter() - t0:.3f}s",
            flush=True,
        )
    except Exception as e:
        State.error = f"model failed to load: {type(e).__name__}: {e}"
        print(State.error, file=sys.stderr, flush=True)
    print(f"serving on :{port}", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
