"""The awesome-compose corpus: every Dockerfile parses and plans; those whose base images
can be had offline build.

Only three base images exist offline (``dockyard image bootstrap``: busybox,
debian:bookworm-slim, python:3.11-slim).  A Dockerfile's images are mapped to them
only where the mapping is honest — the same distribution and variant, a newer
release (:func:`honest_map`) — and only through ``--base-map``, never by editing
the file.  Alpine, node, php, golang, nginx, maven, rust and the other images have
no honest offline stand-in, so those Dockerfiles are listed in :data:`OFFLINE_WHY`
with the reason; the test fails if a corpus Dockerfile is neither buildable nor
listed there, and builds (with the Dockerfile's directory as the context, as
compose does) every one that is buildable.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import IMAGE_CACHE, Dockyard

pytestmark = [pytest.mark.root, pytest.mark.slow]

OFFLINE_IMAGES = ("busybox:latest", "debian:bookworm-slim", "python:3.11-slim")

#: why each corpus Dockerfile cannot be built offline (its default target's images);
#: +GD: and ``COPY --from=gloursdocker/docker`` (the dev-envs stage), an image with no
#: offline copy
OFFLINE_WHY = {
    "angular/angular": "node:17.0.1-bullseye-slim (no node image; npm needs the registry); +GD",
    "apache-php/app": "php:8.0.9-apache (no offline php image); +GD",
    "django/app": "python:3.7-alpine (Alpine: apk, musl); +GD",
    "fastapi": "tiangolo/uvicorn-gunicorn-fastapi (third-party stack); +GD",
    "flask-redis": "python:3.10-alpine (Alpine); +GD",
    "flask/app": "python:3.10-alpine (Alpine); +GD",
    "nginx-flask-mysql/backend": "python:3.10-alpine (Alpine); +GD",
    "nginx-flask-mysql/proxy": "nginx:1.13-alpine (no offline nginx image)",
    "nginx-golang-mysql/backend": "golang:1.18-alpine (Go modules need the network)",
    "nginx-golang-postgres/backend": "golang:1.18-alpine (Go modules need the network)",
    "nginx-nodejs-redis/nginx": "nginx:1.21.6 (no offline nginx image)",
    "nginx-nodejs-redis/web": "node:14.17.3-alpine3.14 (no offline node image)",
    "nginx-wsgi-flask/flask": "python:3.9.2-alpine (Alpine: apk add, adduser -D)",
    "nginx-wsgi-flask/nginx": "nginx:1.19.7-alpine (no offline nginx image)",
    "react-express-mongodb/backend": "node:lts-buster-slim (no offline node image); +GD",
    "react-express-mongodb/frontend": "node:lts-buster (no offline node image); +GD",
    "react-java-mysql/backend": "maven:3.8.5-eclipse-temurin-17, eclipse-temurin:17-jre-focal",
    "react-java-mysql/frontend": "node:lts, nginx:1.13-alpine (no offline images)",
    "react-rust-postgres/backend": "rust:buster (cargo needs crates.io); debian:buster-slim maps",
    "react-rust-postgres/frontend": "node:lts, nginx:1.13-alpine (no offline images)",
    "spring-postgres/backend": "maven:3.8.5-eclipse-temurin-17, eclipse-temurin:17-jre-focal",
    "traefik-golang/backend": "golang:1.18 (Go modules need the network)",
}


def honest_map(image: str) -> str | None:
    """The offline image that honestly stands in for ``image``, or None.

    ``python:3.X-slim`` (Debian-based, any 3.x) → ``python:3.11-slim``;
    ``debian:*-slim`` → ``debian:bookworm-slim``; ``busybox[:*]`` → ``busybox:latest``.
    """
    name = image.removeprefix("docker.io/").removeprefix("library/")
    if re.fullmatch(r"python:3(\.\d+)*-slim(-bookworm|-bullseye|-buster)?", name):
        return "python:3.11-slim"
    if re.fullmatch(r"debian:[a-z0-9.]+-slim", name):
        return "debian:bookworm-slim"
    if re.fullmatch(r"busybox(:[\w.-]+)?", name):
        return "busybox:latest"
    return None


def images_needed(dockerfile: Path) -> list[str]:
    """The images the default target of ``dockerfile`` reads (FROM and COPY --from)."""
    from dockyard.build.args import host_architecture, platform_args
    from dockyard.build.parser import parse_dockerfile, read_dockerfile
    from dockyard.build.parser.instructions import Copy, instructions_from_ast
    from dockyard.build.plan import find_stage, plan_build

    parsed = parse_dockerfile(read_dockerfile(dockerfile), "Dockerfile")
    stages, meta = instructions_from_ast(parsed, "Dockerfile")
    plan = plan_build(stages, meta, automatic=platform_args("linux", host_architecture()),
                      escape=parsed.escape_token, filename="Dockerfile")  # fmt: skip
    out: list[str] = []
    for sp in plan.stages:
        if sp.base_stage is None and sp.base.lower() != "scratch":
            out.append(sp.base)
        for inst in stages[sp.index].instructions:
            if isinstance(inst, Copy) and inst.from_ and find_stage(stages, inst.from_) is None:
                out.append(inst.from_)
    return sorted(set(out))


def _corpus(corpus_dir: Path) -> dict[str, Path]:
    root = corpus_dir / "compose" / "awesome-compose"
    if not root.is_dir():
        pytest.skip(f"{root}: not in this corpus")
    return {str(p.parent.relative_to(root)): p for p in sorted(root.rglob("Dockerfile"))}


def test_every_corpus_dockerfile_parses_and_plans(corpus_dir: Path) -> None:
    files = _corpus(corpus_dir)
    assert len(files) == 22
    for name, path in files.items():
        assert images_needed(path), name  # parses, plans, and names its images


def test_corpus_builds_what_can_be_built_offline(corpus_dir: Path, dy_fresh: Dockyard) -> None:
    files = _corpus(corpus_dir)
    cached = {i for i in OFFLINE_IMAGES if (IMAGE_CACHE / (i.replace(":", "_") + ".tar")).is_file()}
    built: list[str] = []
    for name, path in files.items():
        needed = images_needed(path)
        mapping = {i: honest_map(i) for i in needed}
        if not all(m in cached for m in mapping.values()):
            assert name in OFFLINE_WHY, f"{name}: needs {needed}; buildable or listed, not neither"
            continue
        for image in set(mapping.values()):
            dy_fresh.ensure(str(image))
        flags = [f"--base-map={i}={m}" for i, m in mapping.items() if i != m]
        proc = dy_fresh.run("build", *flags, "-t", f"corpus-{len(built)}:1", str(path.parent),
                            timeout=900)  # fmt: skip
        assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
        built.append(name)
    # what builds offline today (docs/build.md lists it): nothing in this corpus has an
    # honest offline base, so every Dockerfile is in OFFLINE_WHY
    assert sorted(built) == sorted(set(files) - set(OFFLINE_WHY))
    print(f"corpus: {len(files)} parse; built offline: {built or 'none'}")
