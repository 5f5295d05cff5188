"""dockyard's own rules: what only a reader of *all* the stages can see.

hadolint and BuildKit look at one instruction (or one stage) at a time.  These
rules follow files across stages and layers, from the facts that
:mod:`._installs` draws out of the RUN steps:

* DY1001 — ``COPY --from=STAGE SRC`` where SRC holds none of the run-time
  dependencies STAGE installed (the builder ``pip install``\\s into the system
  site-packages, the final stage copies only ``/app``);
* DY1002 — a secret file copied into a layer of the image and deleted by a
  later instruction: the deletion is a whiteout, the file stays in the layer;
* DY1003 — compilers and build tools in the final stage;
* DY1004 — ``USER`` set only in a stage that is not the final one (USER does
  not carry across ``FROM``).

All of it is static analysis of the instructions, never of a built filesystem.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterator

from dockyard.build.parser.instructions import Add, Copy, Run, User

from ._dockerfile import Dockerfile, StageInfo, Step, expand
from ._hadolint_shared import image_name_tag
from ._installs import Output, outputs_of, overlaps, resolve
from ._model import Severity
from ._registry import Hit, hit, rule

__all__: list[str] = []

E, W = Severity.ERROR, Severity.WARNING


def _source_paths(step: Step, inst: Copy) -> list[str] | None:
    """The absolute paths a ``COPY --from`` reads in the source stage (None: unknowable)."""
    out = []
    for written in inst.sources:
        src = expand(written, step.state.env)
        if "$" in src:
            return None
        glob = re.search(r"[*?\[]", src)
        if glob:
            src = posixpath.dirname(src[: glob.start()]) or "/"
        out.append(resolve(src, "/"))  # BuildKit reads --from sources from the stage's root
    return out


def _dep_summary(deps: list[Output]) -> str:
    parts = []
    for dep in deps:
        parts.append(f"{dep.tool} (line {dep.line}) put its packages into {dep.where}")
    return "; ".join(dict.fromkeys(parts))


def _fix_hint(deps: list[Output]) -> str:
    if any(d.ecosystem == "python" for d in deps):
        return (
            "copy that directory too, or install into a virtualenv "
            "(RUN python -m venv /opt/venv, ENV PATH=/opt/venv/bin:$PATH) and copy /opt/venv"
        )
    return "copy that directory too"


def _installs_itself(stage: StageInfo, ecosystems: set[str]) -> bool:
    own = [o for o in outputs_of(stage) if o.kind == "deps"]
    return any(o.ecosystem in ecosystems for o in own)


@rule(
    "DY1001",
    E,
    "COPY --from copies none of the dependencies the source stage installed",
    source="dockyard",
)
def copy_from_misses_install(df: Dockerfile) -> Iterator[Hit]:
    for consumer in df.stages:
        by_source: dict[int, list[tuple[Step, list[str] | None]]] = {}
        for step in consumer.steps:
            inst = step.inst
            if isinstance(inst, Copy) and inst.from_:
                src = df.stage_ref(expand(inst.from_, step.state.env), consumer.index)
                if src is not None:
                    by_source.setdefault(src.index, []).append((step, _source_paths(step, inst)))
        for index, copies in by_source.items():
            yield from _check_copies(df.stages[index], consumer, copies)


def _check_copies(
    source: StageInfo, consumer: StageInfo, copies: list[tuple[Step, list[str] | None]]
) -> Iterator[Hit]:
    if source in consumer.lineage():
        return
    deps = [o for o in outputs_of(source) if o.kind == "deps"]
    if not deps or any(paths is None for _s, paths in copies):
        return
    produced = [o for o in outputs_of(source) if o.kind != "system"]
    taken = any(
        overlaps(src, dep_path)
        for _step, paths in copies
        for src in paths or []
        for dep in deps
        for dep_path in dep.paths
    )
    if taken or _installs_itself(consumer, {d.ecosystem for d in deps}):
        return
    for step, paths in copies:
        if any(overlaps(src, p) for src in paths or [] for o in produced for p in o.paths):
            continue  # it takes something a RUN made (a build's output): that may be all it needs
        shown = " ".join(paths or [])
        yield hit(
            step,
            f"COPY --from={step.inst.from_} {shown} copies none of what stage "  # type: ignore[attr-defined]
            f"{source.label} installed: {_dep_summary(deps)}; the image will lack those "
            f"dependencies — {_fix_hint(deps)}",
        )


_SECRET_NAMES = (
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
    ".env",
    ".env.*",
    "credentials",
    "credentials.json",
    "*.kubeconfig",
    "kubeconfig",
    ".dockercfg",
    "config.json.secret",
    ".htpasswd",
    "secrets.*",
    "secret.*",
    "*.secret",
    "*_rsa",
    "service-account*.json",
    "*.jks",
    "*.keystore",
)


def is_secret_file(path: str) -> bool:
    base = posixpath.basename(path.rstrip("/"))
    if path.rstrip("/").endswith((".aws/credentials", ".docker/config.json", ".ssh/id_rsa")):
        return True
    return any(fnmatch.fnmatchcase(base, pattern) for pattern in _SECRET_NAMES)


def _added(step: Step) -> list[tuple[str, bool]]:
    """(path in the image, is it a whole directory copy) for each COPY/ADD source."""
    inst = step.inst
    assert isinstance(inst, Copy | Add)
    dest = resolve(expand(inst.dest, step.state.env), step.state.workdir)
    many = len(inst.sources) + len(inst.contents) > 1 or inst.dest.endswith("/")
    out: list[tuple[str, bool]] = []
    for src in [*inst.sources, *(c.path for c in inst.contents)]:
        base = posixpath.basename(src.rstrip("/"))
        if src.rstrip("/") in (".", "") or re.search(r"[*?\[]", base) or src.endswith("/"):
            out.append((dest, True))
        elif "." not in base and not is_secret_file(base):
            out.append((dest + "/" + base if many else dest, True))  # likely a directory
        else:
            out.append((dest + "/" + base if many else dest, False))
    return out


def _removed(step: Step) -> list[str]:
    if step.script is None:
        return []
    out: list[str] = []
    for cmd in step.script.commands:
        if cmd.name in ("rm", "shred", "unlink"):
            out.extend(resolve(w, cmd.cwd) for w in cmd.argv[1:] if not w.startswith("-"))
    return out


@rule("DY1002", E, "A secret is copied into a layer and deleted in a later one", source="dockyard")
def secret_deleted_later(df: Dockerfile) -> Iterator[Hit]:
    added: list[tuple[str, bool, Step]] = []
    for info in df.final_lineage():
        for step in info.steps:
            if isinstance(step.inst, Copy | Add) and not getattr(step.inst, "from_", ""):
                added.extend((path, is_dir, step) for path, is_dir in _added(step))
            for gone in _removed(step):
                if not is_secret_file(gone):
                    continue
                for path, is_dir, where in added:
                    inside = gone == path or (is_dir and gone.startswith(path.rstrip("/") + "/"))
                    if inside or fnmatch.fnmatchcase(path, gone):
                        yield hit(
                            where,
                            f"{gone} is copied in at line {where.line} and deleted "
                            f"at line {step.line}, in a later layer: the file stays "
                            f"in the image's layer of line {where.line}; use "
                            "RUN --mount=type=secret instead",
                        )
                        break


_COMPILERS = frozenset(
    {
        "gcc",
        "g++",
        "cpp",
        "clang",
        "llvm",
        "build-essential",
        "build-base",
        "alpine-sdk",
        "gfortran",
        "rustc",
        "cargo",
        "golang",
        "golang-go",
        "go",
        "gcc-c++",
        "make",
        "cmake",
        "musl-dev",
        "libc6-dev",
        "libc-dev",
        "tcc",
        "nasm",
        "yasm",
        "openjdk-jdk",
    }
)
_COMPILER_PATTERN = re.compile(r"^(gcc|g\+\+|clang|llvm|gfortran|golang)(-[\d.]+)?$")
_SDK_IMAGES = frozenset({"gcc", "golang", "rust", "buildpack-deps", "maven", "gradle"})
_FULL_IMAGES = frozenset({"python", "node", "ruby", "perl"})  # FROM buildpack-deps


def _compiler_packages(words: list[str]) -> list[str]:
    return [
        w
        for w in words
        if w.split("=", 1)[0] in _COMPILERS or _COMPILER_PATTERN.match(w.split("=", 1)[0])
    ]


def _installed_packages(step: Step) -> list[tuple[str, list[str]]]:
    """(package manager, compiler packages installed) for each install in a RUN."""
    assert step.script is not None
    out: list[tuple[str, list[str]]] = []
    for cmd in step.script.commands:
        sub = cmd.subcommand()
        if (cmd.name, sub) in (
            ("apt-get", "install"),
            ("apt", "install"),
            ("apk", "add"),
            ("dnf", "install"),
            ("yum", "install"),
            ("microdnf", "install"),
        ):
            words = [w for w in cmd.argv[2:] if not w.startswith("-")]
            found = _compiler_packages(words)
            virtual = ""
            if cmd.name == "apk":
                virtual = next(
                    (
                        cmd.argv[i + 1]
                        for i, w in enumerate(cmd.argv[:-1])
                        if w in ("-t", "--virtual")
                    ),
                    "",
                )
            if found:
                out.append((virtual, found))
    return out


def _purged(step: Step) -> set[str]:
    gone: set[str] = set()
    if step.script is None:
        return gone
    for cmd in step.script.commands:
        sub = cmd.subcommand()
        if (
            (cmd.name in ("apt-get", "apt") and sub in ("purge", "remove", "autoremove"))
            or (cmd.name == "apk" and sub == "del")
            or (cmd.name in ("dnf", "yum") and sub in ("remove", "erase"))
        ):
            gone.update(w.split("=", 1)[0] for w in cmd.argv[2:] if not w.startswith("-"))
    return gone


@rule("DY1003", W, "The final stage still contains compilers or build tools", source="dockyard")
def compilers_in_final(df: Dockerfile) -> Iterator[Hit]:
    lineage = df.final_lineage()
    if len(df.stages) > 1:
        base = lineage[0]
        name, tag = image_name_tag(base.stage.base)
        short = name.rsplit("/", 1)[-1]
        sdk = short in _SDK_IMAGES or (
            short in _FULL_IMAGES and tag and not re.search(r"slim|alpine", tag)
        )
        if sdk and "$" not in base.stage.base:
            yield Hit(
                base.node.start_line,
                f"the final stage is built on {base.stage.base}, an image that carries "
                "compilers and build tools; use a slim or distroless runtime image",
                base.node.end_line,
            )
    steps = [s for info in lineage for s in info.steps]
    for i, step in enumerate(steps):
        if not isinstance(step.inst, Run) or step.script is None:
            continue
        for virtual, packages in _installed_packages(step):
            same = _purged(step)
            left = [p for p in packages if p.split("=", 1)[0] not in same and virtual not in same]
            if not left:
                continue
            later = [
                s.line
                for s in steps[i + 1 :]
                if set(left) & _purged(s) or (virtual and virtual in _purged(s))
            ]
            names = ", ".join(left)
            if later:
                msg = (
                    f"{names} installed here and removed at line {later[0]}, in a later "
                    "layer: they stay in the image; remove them in the same RUN or build "
                    "in an earlier stage"
                )
            else:
                msg = (
                    f"{names} installed in the final stage remain in the image; build in "
                    "an earlier stage and copy only the result"
                )
            yield hit(step, msg)


@rule("DY1004", W, "USER is set only in a stage that is not the final one", source="dockyard")
def user_only_in_other_stage(df: Dockerfile) -> Iterator[Hit]:
    lineage = df.final_lineage()
    if any(isinstance(s.inst, User) for info in lineage for s in info.steps):
        return
    final = df.final
    for info in df.stages:
        if info in lineage:
            continue
        users = [s for s in info.steps if isinstance(s.inst, User)]
        if users and isinstance(users[-1].inst, User):
            user = users[-1].inst.user
            if user.split(":", 1)[0] in ("root", "0"):
                continue
            yield hit(
                users[-1],
                f"USER {user} is set only in stage {info.label}; the final "
                f"stage {final.label} sets no USER, so the image runs as root "
                "(USER does not carry across FROM)",
            )
