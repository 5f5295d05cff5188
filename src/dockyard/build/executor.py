"""The builder: a Dockerfile and a context become an image in the store.

Protocol::

    builder = Builder(ImageStore(root), run_root, progress=print_line)
    result = builder.build(BuildOptions(context=Path("."), tags=("app:1",)))
    result.image.id              # sha256:… (the config digest)

One build:

1. read and parse the Dockerfile (``Dockerfile:LINE: …`` on any error);
2. plan it (:mod:`dockyard.build.plan`): only the stages the target needs;
3. build each planned stage in order: its base (image, stage or scratch, and
   the base's ONBUILD triggers), then each instruction — metadata ones change
   the config (:func:`dockyard.build.state.apply_metadata`), RUN/COPY/ADD/
   WORKDIR are *layer steps*: their cache key (:mod:`dockyard.build.cache`)
   is looked up and, on a miss, they run over an overlay of the stage's
   layers (:mod:`dockyard.build.rootfs`) and their diff becomes a layer;
4. record the target's image (manifest + config) and its tags in one step —
   a failed build tags nothing.

Before 1, a build that would hit the cache at every step is *replayed* from its
memo (:mod:`dockyard.build.memo`) when the memo still holds: the same image,
without parsing, planning or touching a layer.  The step machinery lives in
:mod:`dockyard.build.stages` and is imported only when something is built.

The store lock is held shared for the whole build, so a garbage collection
never takes a layer between its step and the image.  Errors carry the
Dockerfile line: ``Dockerfile:7: process "/bin/sh -c false" did not
complete successfully: exit code: 1`` (FailedPrecondition), the rest as the
module that raised them (InvalidArgument, NotFound, Unavailable...).
The library never prints: progress lines go to the ``progress`` callback, and
the output of RUN commands to the file descriptor in ``BuildOptions.run_output_fd``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.build.args import host_architecture
from dockyard.build.cache import BuildCache, FileSums
from dockyard.errors import InvalidArgument, NotFound, Unavailable
from dockyard.records import field, record

if TYPE_CHECKING:
    from dockyard.build.parser.instructions import Stage
    from dockyard.build.state import ImageState
    from dockyard.linux.syscalls import Syscalls
    from dockyard.store.images import Image, ImageStore

__all__ = ["BuildOptions", "BuildResult", "Builder"]

Progress = Callable[[str], None]


@record(frozen=False)
class BuildOptions:
    """What ``dockyard build`` was asked (see ``docs/build.md``)."""

    context: Path
    dockerfile: Path | None = None  # default: <context>/Dockerfile
    dockerfile_text: str | None = None  # instead of reading ``dockerfile``
    tags: tuple[str, ...] = ()
    target: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    secrets: dict[str, Path] = field(default_factory=dict)
    ssh: dict[str, Path] = field(default_factory=dict)  # agent id -> socket (RUN --mount=ssh)
    platform: str = ""
    base_map: dict[str, str] = field(default_factory=dict)  # image name -> image to use
    run_output_fd: int | None = None  # where RUN's stdout goes (None: inherited)
    network: str = "default"  # RUN steps without --network: default (sandbox), none, host
    allow: frozenset[str] = frozenset()  # granted entitlements (network.host)


@record(frozen=False)
class BuildResult:
    """The built image and what the build did."""

    image: Image
    steps: int = 0
    cached: int = 0
    warnings: list[str] = field(default_factory=list)


class Builder:
    """Builds images into ``store``; RUN containers keep state under ``run_root``."""

    def __init__(self, store: ImageStore, run_root: Path, *, progress: Progress | None = None,
                 syscalls: Syscalls | None = None) -> None:  # fmt: skip
        self.store = store
        self.run_root = Path(run_root)
        self.progress = progress or (lambda _line: None)
        self.syscalls = syscalls
        self.cache = BuildCache(store.root)
        self.work_root = self.cache.dir / "work"
        self._vertex = 0

    # --- entry point -------------------------------------------------------------------

    def build(self, opts: BuildOptions) -> BuildResult:
        from dockyard.build.context import load_context
        from dockyard.build.entitlements import check_allow, check_network

        check_network(opts.network, check_allow(opts.allow), "--network")

        dockerfile = opts.dockerfile or Path(opts.context) / "Dockerfile"
        filename = dockerfile.name
        data: bytes | None = None
        if opts.dockerfile_text is not None:
            data = opts.dockerfile_text.encode("utf-8", "surrogateescape")
        else:
            with contextlib.suppress(OSError):  # the parser reports it
                data = dockerfile.read_bytes()
        self._line(f"[internal] load build definition from {filename}")
        arch, os_ = self._platform(opts.platform)
        sums = FileSums(self.cache)  # context file digests, remembered between builds
        with self.store.lock():
            try:
                memo_key = None
                if data is not None:
                    from dockyard.build import memo

                    memo_key = memo.memo_key(filename, data, Path(opts.context), opts, arch)
                    if not opts.no_cache:
                        context = load_context(Path(opts.context), (filename,))
                        hit = memo.replay(self, memo_key, opts, context, sums)
                        if hit is not None:
                            return hit
                return self._build(opts, dockerfile, (arch, os_), sums, memo_key)
            finally:
                try:
                    sums.save()
                finally:
                    self.cache.close()

    def _build(self, opts: BuildOptions, dockerfile: Path, platform: tuple[str, str],
               sums: FileSums, memo_key: str | None) -> BuildResult:  # fmt: skip
        from dockyard.build import memo
        from dockyard.build.args import platform_args, unused_build_args
        from dockyard.build.context import load_context
        from dockyard.build.parser import parse_dockerfile, read_dockerfile
        from dockyard.build.parser.instructions import instructions_from_ast
        from dockyard.build.plan import plan_build
        from dockyard.build.stages import BuildRun

        filename = dockerfile.name
        text = opts.dockerfile_text
        if text is None:
            text = read_dockerfile(dockerfile)
        parsed = parse_dockerfile(text, filename)
        stages, meta_args = instructions_from_ast(parsed, filename)
        arch, os_ = platform
        plan = plan_build(
            stages, meta_args, build_args=opts.build_args, target=opts.target,
            automatic=platform_args(os_, arch), escape=parsed.escape_token, filename=filename,
        )  # fmt: skip
        _check_run_networks(stages, plan.order, opts, filename)
        context = load_context(Path(opts.context), (filename,))
        run = BuildRun(self, opts, stages, plan, context, filename, parsed.escape_token,
                       platform, sums)  # fmt: skip
        try:
            state = run.all_stages()
        finally:
            run.net.close()
        image, config = self._commit(state, opts)
        warnings = list(run.warnings)
        warnings += _loopback_proxies(opts)
        unused = unused_build_args(opts.build_args, run.consumed | set(plan.meta))
        if unused:
            warnings.append(f"one or more build-args {unused} were not consumed")
        if memo_key is not None:
            layers = [[x.media_type, str(x.digest), x.size] for x in state.layers]
            memo.save(self, memo_key, run.rec, config, layers, warnings)
        return BuildResult(image, run.steps, run.cached, warnings)

    def _platform(self, requested: str) -> tuple[str, str]:
        arch = host_architecture()
        if requested:
            parts = requested.lower().split("/")
            if parts[0] != "linux" or (len(parts) > 1 and parts[1] != arch):
                raise Unavailable(
                    f"platform {requested}: only linux/{arch} can be built on this machine"
                )
        return arch, "linux"

    def _commit(self, state: ImageState, opts: BuildOptions) -> tuple[Image, bytes]:
        from dockyard.build.memo import rfc3339, source_date_epoch

        epoch = source_date_epoch()
        created = rfc3339(epoch if epoch is not None else time.time())
        config = state.image_config(created)
        manifest = state.manifest(config)
        content = config.content()
        return self.store.add_image(manifest.to_json(), content, tags=opts.tags), content

    # --- progress ----------------------------------------------------------------------

    def _line(self, text: str) -> int:
        self._vertex += 1
        self.progress(f"#{self._vertex} {text}")
        return self._vertex

    def resolve_image(self, name: str, base_map: dict[str, str]) -> Image:
        """An image from the store, through the ``--base-map`` mapping."""
        from dockyard.oci.reference import parse_reference

        mapped = base_map.get(name)
        if mapped is None:
            try:
                full = str(parse_reference(name))
            except InvalidArgument:
                full = name
            for key, value in base_map.items():
                with contextlib.suppress(InvalidArgument):
                    if str(parse_reference(key)) == full:
                        mapped = value
        try:
            return self.store.resolve(mapped or name)
        except NotFound:
            hint = f" (mapped to {mapped})" if mapped else ""
            raise NotFound(
                f"base image {name}{hint} is not in the store: load or pull it first "
                "(dockyard load, dockyard image bootstrap), or map it with --base-map"
            ) from None


def _check_run_networks(stages: list[Stage], order: list[int], opts: BuildOptions,
                        filename: str) -> None:  # fmt: skip
    """Refuse a planned ``RUN --network=host`` that is not granted, before any step runs
    (BuildKit checks a build's entitlements before it solves)."""
    from dockyard.build.entitlements import check_network
    from dockyard.build.parser.instructions import Run
    from dockyard.errors import DockyardError

    for i in order:
        for inst in stages[i].instructions:
            if isinstance(inst, Run) and inst.network:
                try:
                    check_network(inst.network, opts.allow, "RUN --network")
                except DockyardError as e:
                    raise type(e)(f"{filename}:{inst.start_line}: {e}") from None


def _loopback_proxies(opts: BuildOptions) -> list[str]:
    """A warning per proxy arg on the host's loopback, which sandboxed steps cannot reach."""
    import ipaddress
    from urllib.parse import urlsplit

    from dockyard.build.args import PROXY_ARGS

    if opts.network != "default":
        return []
    out = []
    for name, value in sorted(opts.build_args.items()):
        if name not in PROXY_ARGS or name.lower() == "no_proxy" or not value:
            continue
        host = urlsplit(value if "://" in value else "http://" + value).hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            out.append(
                f"{name}={value} is on the host's loopback, which RUN steps in the sandbox "
                "network cannot reach (use --network host --allow network.host)"
            )
    return out
