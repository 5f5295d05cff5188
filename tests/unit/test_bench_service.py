"""The Service bench's pure pieces (bench/deploy.py, bench/before_after.py): the nginx
recipe, the report lines, the launcher that runs another checkout's ``src``."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import common, deploy
from bench.common import REPO, VENV_BIN

from dockyard.build.parser import instructions_from_ast, parse_dockerfile


def test_nginx_recipe_is_a_small_non_root_backend_on_8080() -> None:
    text = (deploy.NGINX_RECIPE / "Dockerfile").read_text()
    (stage,), _meta = instructions_from_ast(parse_dockerfile(text))
    assert stage.base == "debian:bookworm-slim"
    kinds = [type(i).__name__ for i in stage.instructions]
    assert kinds == ["Run", "Copy", "User", "Expose", "Cmd"]
    assert "USER www-data" in text
    conf = (deploy.NGINX_RECIPE / "nginx.conf").read_text()
    for line in ("worker_processes auto;", "listen 8080", "access_log off;", "return 200",
                 "pid /tmp/nginx.pid;"):  # fmt: skip
        assert line in conf
    assert "deb." not in text + conf  # no mirror host name: the base image's sources say it


def test_the_cached_archive_follows_the_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = tmp_path / "nginx"
    recipe.mkdir()
    (recipe / "Dockerfile").write_text("FROM debian:bookworm-slim\n")
    monkeypatch.setattr(deploy, "NGINX_RECIPE", recipe)
    first = deploy._recipe_digest()
    assert deploy._recipe_digest() == first
    (recipe / "nginx.conf").write_text("worker_processes 1;\n")
    assert deploy._recipe_digest() != first


def test_rate_lines_give_median_spread_and_samples() -> None:
    lines = deploy.rate_lines({"a": [100.0, 120.0, 80.0], "b": []}, {"b": "wrk failed"})
    assert lines[1].split()[:2] == ["a", "100"]
    assert "80-120" in lines[1] and "±20%" in lines[1] and "(100, 120, 80)" in lines[1]
    assert "n/a" in lines[2] and "wrk failed" in lines[2]


def test_launcher_runs_the_other_src(tmp_path: Path) -> None:
    if not (VENV_BIN / "dockyard").is_file():
        pytest.skip("no venv launcher (make setup)")
    other = tmp_path / "src"
    out = common._launcher(other, tmp_path / "dockyard").read_text()
    assert f"sys.path[:0] = [{str(other)!r}]" in out
    assert repr(str(REPO / "src")) not in out
    original = (VENV_BIN / "dockyard").read_text()
    assert out.count("\n") == original.count("\n")


def test_paired_ratios_compare_round_by_round() -> None:
    # the machine's load changes between rounds, not within one: each round's pair is compared
    before = [100.0, 200.0, 400.0, 800.0]
    after = [90.0, 180.0, 360.0, 720.0]
    assert deploy.paired_ratios(before, after) == pytest.approx([0.9] * 4)
    assert deploy.paired(before, after) == "0.90x (0.90-0.90)"
    assert deploy.paired(before[:1], after[:1]) == "0.90x"
    assert deploy.paired([], after) == "n/a"


class _NoDaemon:
    """Stands in for bench.common.Dockyard: records what would be loaded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str) -> str:
        self.calls.append(args)
        return ""


def test_busybox_is_the_stated_fallback_when_nginx_cannot_be_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deploy, "IMAGE_CACHE", tmp_path)  # no debian:bookworm-slim archive
    monkeypatch.delenv("BENCH_SERVICE_BACKEND", raising=False)
    dy = _NoDaemon()
    backend = deploy.load_backend(dy, tmp_path)  # type: ignore[arg-type]
    assert backend.image == "busybox:latest" and "httpd" in backend.command
    assert backend.note.startswith("backend: busybox httpd, not nginx")
    assert "debian_bookworm-slim.tar is missing (make images)" in backend.note
    assert dy.calls == []
    monkeypatch.setenv("BENCH_SERVICE_BACKEND", "busybox")
    assert deploy.load_backend(dy, tmp_path).note == ""  # type: ignore[arg-type]
