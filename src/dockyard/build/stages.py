"""Building the stages of a plan: base images, metadata instructions and layer steps.

:class:`BuildRun` is one build of :class:`dockyard.build.executor.Builder` (the
executor parses, plans and commits; this module does what is in between): each
planned stage starts from its base, runs its ONBUILD triggers, then its
instructions.  Layer steps (RUN, COPY, ADD, WORKDIR) look their key up in the
cache and, on a miss, run over an overlay of the stage's layers
(:mod:`dockyard.build.rootfs`).  While it builds it records what a replay of the
same build needs (:class:`dockyard.build.memo.Recorder`): the base images it
resolved, the context selections it hashed, the step keys it used.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import posixpath
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.build.args import ArgScope
from dockyard.build.cache import CacheRecord, FileSums, step_key
from dockyard.build.commits import Commits
from dockyard.build.context import Entry, SourceTree, select
from dockyard.build.entitlements import check_network
from dockyard.build.memo import Recorder, rfc3339, source_date_epoch
from dockyard.build.parents import parents_entries, select_parents
from dockyard.build.parser.instructions import (
    Add,
    Arg,
    Copy,
    Instruction,
    Run,
    Stage,
    Workdir,
)
from dockyard.build.plan import Plan, StagePlan, find_stage
from dockyard.build.rootfs import StepRootfs, mounted_readonly
from dockyard.build.sandboxnet import SandboxNetwork
from dockyard.build.schedule import OrderedLog, Scheduler
from dockyard.build.state import ImageState, Layer, LayerRef, apply_metadata, shell_words
from dockyard.errors import DockyardError, InvalidArgument, NotFound, Unavailable

if TYPE_CHECKING:
    from dockyard.build.executor import Builder, BuildOptions
    from dockyard.store.images import Image

__all__ = ["BuildRun", "located"]


def located(filename: str, line: int, exc: DockyardError) -> DockyardError:
    msg = str(exc)
    if msg.startswith(f"{filename}:"):
        return exc
    new = type(exc)(f"{filename}:{line}: {msg}")
    for note in getattr(exc, "__notes__", []):
        new.add_note(note)
    return new


@dataclass
class _Stage:
    """A stage being built: its plan, its state and its arg scope."""

    plan: StagePlan
    state: ImageState
    scope: ArgScope
    label: str
    total: int
    pos: int  # in the plan (the order its progress is written in)
    done: int = 1
    line: int = 0  # of the instruction being built


class BuildRun:
    """The state of one build (so that :class:`Builder` stays reusable)."""

    def __init__(self, b: Builder, opts: BuildOptions, stages: list[Stage], plan: Plan,
                 context: SourceTree, filename: str, escape: str,
                 platform: tuple[str, str], sums: FileSums) -> None:  # fmt: skip
        self.b = b
        self.opts = opts
        self.stages = stages
        self.plan = plan
        self.context = context
        self.filename = filename
        self.escape = escape
        self.arch, self.os = platform
        self.done: dict[int, ImageState] = {}
        self.consumed: set[str] = set()
        self.warnings: list[str] = []
        self.steps = 0
        self.cached = 0
        self.sums = sums  # context file digests, remembered between builds
        self.epoch = source_date_epoch()
        self.rec = Recorder()  # what a replay of this build checks (dockyard.build.memo)
        self.commits = Commits(filename)  # layer blobs written in the background
        # stages build in parallel threads (dockyard.build.schedule), their progress in order
        self.log = OrderedLog(
            len(plan.stages), b._line, lambda vertex, text: b.progress(f"#{vertex} {text}"),
            lambda text: self.rec.lines.append(["L", text]),
            lambda: self.rec.lines.append(["C"]),
        )  # fmt: skip
        self.lock = threading.Lock()  # the counters
        self.containers: set[str] = set()  # RUN containers running now (stopped on abort)
        self.net = SandboxNetwork()  # the default-network RUN steps' namespace (on first use)
        self._swept = False  # the RUN containers of dead builders (runner.sweep_abandoned)

    def now(self, recorded: str | None = None) -> str:
        """A history timestamp: ``SOURCE_DATE_EPOCH``, else ``recorded`` (a cached step's),
        else the time now (remembered: a replay puts its own time there)."""
        if self.epoch is not None:
            return rfc3339(self.epoch)
        if recorded:
            return recorded
        stamp = rfc3339(time.time())
        self.rec.now_stamps.add(stamp)
        return stamp

    def line(self, st: _Stage, text: str) -> int:
        return self.log.line(st.pos, text)

    def resolve(self, name: str) -> Image:
        """An image of the store by name (``--base-map`` applied), recorded."""
        image = self.b.resolve_image(name, self.opts.base_map)
        self.rec.images.append([name, str(image.id)])
        return image

    def all_stages(self) -> ImageState:
        """Build the planned stages, each as soon as the stages it needs are built."""
        pos_of = {sp.index: pos for pos, sp in enumerate(self.plan.stages)}
        deps = [{pos_of[d] for d in (sp.base_stage, *sp.deps) if d is not None}
                for sp in self.plan.stages]  # fmt: skip

        def build_one(pos: int) -> ImageState:
            sp = self.plan.stages[pos]
            state = self.done[sp.index] = self.stage(sp, pos)
            return state

        try:
            Scheduler(deps, build_one, self.log, self.abort).run()
        except BaseException as exc:
            try:
                self.commits.settle()  # the records of the steps that did finish
            except BaseException as cleanup:
                exc.add_note(f"commit failed: {cleanup}")
            raise
        self.commits.settle()
        return self.done[self.plan.target]

    # --- stages ------------------------------------------------------------------------

    def abort(self) -> None:
        """Stop the containers of running RUN steps (the caller was interrupted)."""
        from dockyard.runtime import Runtime

        runtime = Runtime(self.b.run_root / "runtime")
        for cid in list(self.containers):
            with contextlib.suppress(Exception):
                runtime.kill(cid, signal.SIGKILL)

    def stage(self, sp: StagePlan, pos: int) -> ImageState:
        stage = self.stages[sp.index]
        label = sp.name or f"stage-{sp.index}"
        total = 1 + sum(isinstance(i, Run | Copy | Add | Workdir) for i in stage.instructions)
        line = stage.from_.start_line
        try:
            state = self.base(sp)
        except DockyardError as exc:
            raise located(self.filename, line, exc) from None
        st = _Stage(sp, state, ArgScope(self.opts.build_args, self.plan.meta), label, total, pos)
        self.line(st, f"[{label} 1/{total}] FROM {sp.base}")
        for inst in self.onbuild_triggers(st, line):
            self.step(st, inst, line)
        for inst in stage.instructions:
            self.step(st, inst, inst.start_line)
        return st.state

    def base(self, sp: StagePlan) -> ImageState:
        if sp.platform:
            self.b._platform(sp.platform)
        if sp.base_stage is not None:
            state = self.done[sp.base_stage].copy()
            state.cmd_set = False
            return state
        if sp.base.lower() == "scratch":
            return ImageState.scratch(self.arch, self.os, step_key("", ["scratch", self.os,
                                                                         self.arch]))  # fmt: skip
        image = self.resolve(sp.base)
        key = step_key("", ["image", str(image.id)])
        return ImageState.from_image(image.config, image.manifest.layers, key)

    def onbuild_triggers(self, st: _Stage, line: int) -> list[Instruction]:
        from dockyard.build.parser import parse_dockerfile
        from dockyard.build.parser.instructions import parse_instruction

        triggers = list(st.state.config.get("OnBuild") or [])
        st.state.config["OnBuild"] = None
        out: list[Instruction] = []
        for text in triggers:
            try:
                result = parse_dockerfile(text, self.filename)
                for node in result.ast.children:
                    inst = parse_instruction(node, "ONBUILD")
                    out.append(replace(inst, start_line=line, end_line=line))
            except DockyardError as exc:
                raise located(self.filename, line, exc) from None
        return out

    # --- steps -------------------------------------------------------------------------

    def step(self, st: _Stage, inst: Instruction, line: int) -> None:
        st.line = line
        try:
            self._step(st, inst)
        except DockyardError as exc:
            raise located(self.filename, line, exc) from None

    def _expand(self, st: _Stage, inst: Instruction) -> Instruction:
        from dockyard.build.parser.expand import expand_instruction

        env = st.scope.expansion_env(st.state.env())
        return expand_instruction(inst, env, self.escape, self.filename)

    def _step(self, st: _Stage, raw: Instruction) -> None:
        if isinstance(raw, Run):
            self.run_step(st, raw)
            return
        inst = self._expand(st, raw)
        state = st.state
        if isinstance(inst, Arg):
            for pair in inst.args:
                st.scope.declare(pair.key, pair.value)
                self.consumed.add(pair.key)
            text = "ARG " + " ".join(
                p.key if p.value is None else f"{p.key}={p.value}" for p in inst.args
            )
            # the values reach the key where they are used: RUN's environment, expanded words
            state.key = step_key(state.key, ["ARG", raw.original])
            state.add_history(self.now(), text, empty=True)
            return
        if isinstance(inst, Copy | Add):
            self.copy_step(st, inst)
            return
        created_by = apply_metadata(state, inst)
        if created_by is None:
            raise InvalidArgument(f"{inst.name.upper()} is not supported here")
        state.key = step_key(state.key, [inst.name, created_by])
        if isinstance(inst, Workdir):
            self.workdir_step(st, created_by)
        else:
            state.add_history(self.now(), created_by, empty=True)

    def layer_step(self, st: _Stage, key: str, created_by: str, title: str,
                   op: Callable[[StepRootfs], None]) -> None:  # fmt: skip
        """Look ``key`` up; on a miss run ``op`` over a fresh overlay and commit its diff."""
        state = st.state
        st.done += 1
        vertex = self.line(st, f"[{st.label} {st.done}/{st.total}] {title}")
        with self.lock:
            self.steps += 1
        layer: Layer | None
        record = None if self.opts.no_cache else self.b.cache.get(key)
        if record is not None and record.layer and not self.b.store.blobs.has(record.layer.digest):
            record = None
        if record is not None:
            with self.lock:
                self.cached += 1
            self.log.status(st.pos, vertex, "CACHED")
            self.b.cache.touch(key)
            layer, created = record.layer, record.created
        else:
            t0 = time.monotonic()
            fs = StepRootfs(self.b.store, self.b.work_root, state.layers, self.b.syscalls)
            with fs:
                op(fs)
            created = rfc3339(self.epoch if self.epoch is not None else time.time())
            layer = None
            if fs.seal():  # the blob is written in the background (dockyard.build.commits)
                layer = self.commits.submit(fs, st.line, functools.partial(self._record, key,
                                                                           created))  # fmt: skip
            else:
                self.b.cache.put(key, CacheRecord(None, created))
            self.log.status(st.pos, vertex, f"DONE {time.monotonic() - t0:.1f}s")
        self.log.cached(st.pos)  # a replay prints CACHED here
        self.rec.keys.append(key)
        if layer is not None:
            state.layers.append(layer)
        state.add_history(self.now(created), created_by, empty=layer is None)
        state.key = key

    def _record(self, key: str, created: str, layer: LayerRef) -> None:
        self.b.cache.put(key, CacheRecord(layer, created))

    def workdir_step(self, st: _Stage, created_by: str) -> None:
        from dockyard.build.fsops import make_workdir, resolve_owner

        path = st.state.workdir
        user = st.state.user

        def op(fs: StepRootfs) -> None:
            owner = resolve_owner(user, fs.merged) if user else None
            from dockyard.build.fsops import ROOT

            make_workdir(fs.merged, path, owner or ROOT)

        key = step_key(st.state.key, ["WORKDIR-mkdir", path, user, self.epoch])
        self.layer_step(st, key, created_by, created_by, op)

    # --- RUN ---------------------------------------------------------------------------

    def run_step(self, st: _Stage, inst: Run) -> None:
        from dockyard.build.runner import RunRequest

        state = st.state
        argv, display = self._run_argv(state, inst)
        args = st.scope.defined()
        env = st.scope.run_env(state.env_list)
        prefix = (
            f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in args.items()) + " " if args else ""
        )
        created_by = "RUN " + prefix + " ".join(argv) + " # buildkit"
        mounts = [self._expand_mount(st, m) for m in inst.mounts]
        # RUN --network=default is the build's --network (BuildKit: no network option set)
        network = self.opts.network if inst.network in ("", "default") else inst.network
        check_network(network, self.opts.allow, "RUN --network")
        if inst.security == "insecure":
            raise Unavailable("RUN --security=insecure is not supported")
        key_mounts = [self._mount_key(m) for m in mounts]
        key = step_key(state.key, ["RUN", argv, args, key_mounts, network, self.epoch])
        req = RunRequest(argv=argv, env=env, cwd=state.workdir, user=state.user,
                         network=network, display=display)  # fmt: skip
        title = "RUN " + " ".join(inst.cmd_line)
        self.layer_step(st, key, created_by, title, lambda fs: self._run(fs, req, mounts, inst))

    def _run_argv(self, state: ImageState, inst: Run) -> tuple[list[str], str]:
        if not inst.files:
            argv = shell_words(state, inst.cmd_line, inst.prepend_shell)
            return argv, " ".join(argv)
        if not inst.prepend_shell:
            raise InvalidArgument("heredocs are only supported with the shell form of RUN")
        cmd = inst.cmd_line[0] if inst.cmd_line else ""
        if len(inst.files) == 1 and cmd.strip() in (
            f"<<{inst.files[0].name}",
            f"<<-{inst.files[0].name}",
        ):
            script = inst.files[0].content  # fmt: skip
            argv = [*state.shell, script]
        else:
            script = cmd
            for doc in inst.files:
                script += "\n" + doc.content + doc.name
            argv = [*state.shell, script]
        return argv, " ".join(argv)

    def _expand_mount(self, st: _Stage, m: Any) -> Any:
        from dockyard.build.parser.shell import ShellLex

        lex = ShellLex(self.escape)
        env = st.scope.expansion_env(st.state.env())
        return replace(
            m, source=lex.process_word(m.source, env), target=lex.process_word(m.target, env),
            from_=lex.process_word(m.from_, env), id=lex.process_word(m.id, env),
        )  # fmt: skip

    def _mount_key(self, m: Any) -> list[Any]:
        desc: list[Any] = [m.type, m.target, m.readonly, m.id, m.sharing, m.mode, m.uid, m.gid,
                           m.size, m.env, m.required]  # fmt: skip
        if m.type == "bind":
            if m.from_:
                desc.append(["from", self._from_identity(m.from_)])
            else:
                sums = [row for _src, _entries, row in select(self.context, m.source or ".",
                                                              None, self.sums)]  # fmt: skip
                self.rec.sources.append([m.source or ".", None, sums])
                desc.append(["context", m.source, [row[1] for row in sums]])
        return desc

    def _from_identity(self, ref: str) -> str:
        idx = find_stage(self.stages, ref)
        if idx is not None and idx in self.done:
            return self.done[idx].key
        try:
            image = self.resolve(ref)
        except NotFound:
            raise InvalidArgument(f'--from={ref}: no build stage or image named "{ref}"') from None
        return "image:" + str(image.id)

    def _from_layers(self, ref: str) -> list[Layer]:
        idx = find_stage(self.stages, ref)
        if idx is not None:
            if idx not in self.done:
                raise InvalidArgument(f"stage {ref} is not built before it is used")
            return self.done[idx].layers
        try:
            image = self.resolve(ref)
        except NotFound:
            raise InvalidArgument(f'--from={ref}: no build stage or image named "{ref}"') from None
        return [LayerRef(d.digest, diff, d.size, d.media_type) for d, diff in
                zip(image.manifest.layers, image.config.rootfs.diff_ids, strict=True)]  # fmt: skip

    def _run(self, fs: StepRootfs, req: Any, mounts: list[Any], inst: Run) -> None:
        from dockyard.build import runner
        from dockyard.runtime import Runtime
        from dockyard.runtime.defaults import default_mounts
        from dockyard.runtime.users import read_in_root, resolve_in_root, resolve_user

        user = resolve_user(req.user or None, read_in_root(fs.merged, "/etc/passwd"),
                            read_in_root(fs.merged, "/etc/group"))  # fmt: skip
        if not req.cwd.startswith("/"):
            raise InvalidArgument(f"the working directory {req.cwd!r} must be absolute")
        runner.write_etc_files(fs.dir, req.network)
        if req.network == "default":
            req.netns = self.net.netns_path()
        with contextlib.ExitStack() as stack:
            req.mounts = [self._oci_mount(stack, fs, m, req) for m in mounts]
            req.mounts = [m for m in req.mounts if m is not None]
            ca = runner.ca_mount(req, runner.host_ca_bundle())
            if ca is not None:
                req.mounts.insert(0, ca)  # before --mount targets, which may lie below /run
            destinations = [m["destination"] for m in (*default_mounts(), *req.mounts)]
            fs.note_stubs([*destinations, *runner._ETC_FILES, req.cwd])
            cwd = resolve_in_root(fs.merged, req.cwd)
            cwd.mkdir(parents=True, exist_ok=True)
            if not self._swept:  # once a build, before its first RUN container
                self._swept = True
                runner.sweep_abandoned(self.b.run_root)
            cid = "build-" + os.urandom(12).hex()
            spec = runner.build_run_spec(
                req, fs.merged, fs.dir, user.uid, user.gid, user.additional_gids, user.home,
                f"dockyard/{cid}",
            )  # fmt: skip
            (fs.dir / "config.json").write_text(json.dumps(spec))
            stack.enter_context(runner.hold_locks(req.locks))
            stack.enter_context(runner.redirect_stdio(self.opts.run_output_fd))
            self.containers.add(cid)
            try:
                status = Runtime(self.b.run_root / "runtime").run(cid, fs.dir)
            finally:
                self.containers.discard(cid)
        if status.code != 0:
            raise runner.failed(req, status.code)

    def _oci_mount(self, stack: contextlib.ExitStack, fs: StepRootfs, m: Any,
                   req: Any) -> dict[str, Any] | None:  # fmt: skip
        from dockyard.build import runner

        target = m.target
        if target and not target.startswith("/"):
            target = posixpath.join(req.cwd, target)
        if m.type == "tmpfs":
            opts = ["nosuid", "nodev"] + ([f"size={m.size}"] if m.size else [])
            return {"destination": target, "type": "tmpfs", "source": "tmpfs", "options": opts}
        if m.type == "cache":
            root = self.b.cache.dir / "mounts"
            d = runner.cache_mount_dir(root, m.id or target, m.uid, m.gid, m.mode)
            if m.sharing == "locked":
                req.locks.append(d.with_suffix(".lock"))
            opts = ["rbind", "ro" if m.readonly else "rw"]
            return {"destination": target, "type": "bind", "source": str(d), "options": opts}
        if m.type == "secret":
            path = runner.check_secret(m.id, self.opts.secrets, m.required)
            if path is None:
                return None
            if m.env:
                req.env.append(f"{m.env}={path.read_text()}")
                if not m.target:
                    return None
            return {"destination": target, "type": "bind", "source": str(path),
                    "options": ["rbind", "ro"]}  # fmt: skip
        if m.type == "bind":
            if m.from_:
                layers = self._from_layers(m.from_)
                root = stack.enter_context(
                    mounted_readonly(self.b.store, self.b.work_root, layers, self.b.syscalls)
                )
                src = SourceTree(root, confined=False).resolve(m.source or "/")
            else:
                self.context.clean(m.source or ".")
                src = self.context.resolve(self.context.clean(m.source or "."))
            if not os.path.exists(src):
                raise NotFound(f"--mount source {m.source or '/'}: not found")
            if not m.readonly:
                src = runner.copy_for_rw(Path(src), fs.dir)
            opts = ["rbind", "ro" if m.readonly else "rw"]
            return {"destination": target, "type": "bind", "source": str(src), "options": opts}
        if m.type == "ssh":
            return self._ssh_mount(stack, m, req)
        raise Unavailable(f"RUN --mount=type={m.type} is not supported")

    def _ssh_mount(self, stack: contextlib.ExitStack, m: Any, req: Any) -> dict[str, Any] | None:
        from dockyard.build.sshagent import DEFAULT_TARGET, AgentProxy, agent_for

        index = req.ssh_mounts
        req.ssh_mounts += 1
        target = m.target or DEFAULT_TARGET.format(index)
        agent = agent_for(self.opts.ssh, m.id, m.required)
        if agent is None:
            return None
        if index == 0 and not any(e.startswith("SSH_AUTH_SOCK=") for e in req.env):
            req.env.append(f"SSH_AUTH_SOCK={target}")
        proxy = stack.enter_context(AgentProxy(agent, m.uid or 0, m.gid or 0, m.mode))
        return {"destination": target, "type": "bind", "source": str(proxy),
                "options": ["rbind"]}  # fmt: skip

    # --- COPY / ADD ----------------------------------------------------------------------

    def copy_step(self, st: _Stage, inst: Copy | Add) -> None:
        from dockyard.build.fsops import is_git, is_url, parse_chmod

        state = st.state
        parents = isinstance(inst, Copy) and inst.parents  # (dockyard.build.parents)
        mode = parse_chmod(inst.chmod)
        n_sources = len(inst.sources) + len(inst.contents)
        dest = inst.dest if inst.dest.startswith("/") else posixpath.join(state.workdir, inst.dest)
        dir_hint = inst.dest.endswith("/") or posixpath.basename(inst.dest) in (".", "..")
        if n_sources > 1 and not dir_hint:
            raise InvalidArgument(
                f"When using {inst.name.upper()} with more than one source file, "
                "the destination must be a directory and end with a /"
            )
        from_ = inst.from_ if isinstance(inst, Copy) else ""
        plan = _CopyPlan(dest=dest, dir_hint=dir_hint or n_sources > 1 or parents, mode=mode,
                         chown=inst.chown, excludes=list(inst.excludes))  # fmt: skip
        key_parts: list[Any] = [inst.name, inst.dest, dest, inst.chown, inst.chmod,
                                inst.excludes, inst.link, self.epoch]  # fmt: skip
        if parents:
            key_parts.append("--parents")
        for src in inst.sources:
            if isinstance(inst, Add) and is_git(src):
                raise Unavailable(f"ADD {src}: git sources are not supported")
            if isinstance(inst, Add) and is_url(src):
                plan.urls.append(src)
                if not inst.checksum:
                    self.rec.replayable = False  # the digest is known only by downloading
                key_parts.append(["url", src, inst.checksum or self._url_digest(src, plan)])
            elif from_:
                key_parts.append(["from", src])
            else:
                rows = []
                pick = select_parents if parents else select
                for m, entries, row in pick(self.context, src, plan.excludes, self.sums):
                    plan.local.append((m.rel, "parents" if parents else m.kind, entries))
                    key_parts.append(["src", *row])
                    rows.append(row)
                self.rec.sources.append([src, plan.excludes, rows, parents])
        key_parts += [["heredoc", c.path, self._heredoc(st, c)] for c in inst.contents]
        plan.heredocs = [(c.path, self._heredoc(st, c)) for c in inst.contents]
        if from_:
            key_parts.append(["from-identity", self._from_identity(from_)])
        unpack = isinstance(inst, Add) and inst.unpack is not False
        key = step_key(state.key, key_parts)
        srcs = " ".join([*inst.sources, *(f"<<{c.path}" for c in inst.contents)])
        flags = ("--parents " if parents else "") + (f"--from={from_} " if from_ else "")
        created_by = f"{inst.name.upper()} {flags}{srcs} {inst.dest} # buildkit"
        title = f"{inst.name.upper()} {flags}{srcs} {inst.dest}"

        def op(fs: StepRootfs) -> None:
            if from_:
                layers = self._from_layers(from_)
                with mounted_readonly(self.b.store, self.b.work_root, layers,
                                      self.b.syscalls) as root:  # fmt: skip
                    tree = SourceTree(root, confined=False)
                    for src in inst.sources:
                        if parents:
                            found = parents_entries(tree, src, plan.excludes)
                            plan.local += [(m.rel, "parents", es) for m, es in found]
                            continue
                        for m in tree.match(src):
                            plan.local.append((m.rel, m.kind, tree.entries(m, plan.excludes)))
                    plan.apply(
                        fs, unpack=False, checksum=inst.checksum if isinstance(inst, Add) else ""
                    )
            else:
                plan.apply(fs, unpack=unpack,
                           checksum=inst.checksum if isinstance(inst, Add) else "")  # fmt: skip

        self.layer_step(st, key, created_by, title, op)

    def _url_digest(self, url: str, plan: _CopyPlan) -> str:
        from dockyard.build.fsops import download

        work = self.b.work_root / ("dl-" + os.urandom(6).hex())
        work.mkdir(parents=True)
        path, digest, _ = download(url, work)
        plan.downloaded[url] = path
        plan.cleanup.append(work)
        return digest

    def _heredoc(self, st: _Stage, content: Any) -> str:
        data = str(content.data)
        if content.expand:
            from dockyard.build.parser.shell import ShellLex

            lex = ShellLex(self.escape, raw_quotes=True, raw_escapes=True)
            data = lex.process_word(data, st.scope.expansion_env(st.state.env()))
        return data


@dataclass
class _CopyPlan:
    """What one COPY/ADD copies, resolved before the step (so the key can be computed)."""

    dest: str
    dir_hint: bool
    mode: int | None
    chown: str
    excludes: list[str]
    local: list[tuple[str, str, list[Entry]]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    heredocs: list[tuple[str, str]] = field(default_factory=list)
    downloaded: dict[str, Path] = field(default_factory=dict)
    cleanup: list[Path] = field(default_factory=list)

    def apply(self, fs: StepRootfs, *, unpack: bool, checksum: str) -> None:
        try:
            self._apply(fs, unpack, checksum)
        finally:
            import shutil

            for d in self.cleanup:
                shutil.rmtree(d, ignore_errors=True)

    def _dest_for(self, fs: StepRootfs, name: str) -> str:
        from dockyard.runtime.users import resolve_in_root

        if self.dir_hint or resolve_in_root(fs.merged, self.dest).is_dir():
            return posixpath.join(self.dest, name)
        return self.dest

    def _apply(self, fs: StepRootfs, unpack: bool, checksum: str) -> None:
        from dockyard.build.fsops import (
            copy_entries,
            download,
            extract_archive,
            is_archive,
            resolve_owner,
            url_filename,
        )

        owner = resolve_owner(self.chown, fs.merged) if self.chown else None
        for rel, kind, entries in self.local:
            if kind == "parents":  # entries land below dest, their parent dirs with them
                from dockyard.build.fsops import ROOT, make_workdir

                make_workdir(fs.merged, self.dest, owner or ROOT)
                copy_entries(fs.merged, self.dest, entries, owner=owner, mode=self.mode)
            elif kind == "dir":
                copy_entries(fs.merged, self.dest, entries, owner=owner, mode=self.mode)
            elif unpack and kind == "file" and is_archive(entries[0].src):
                from dockyard.build.fsops import ROOT

                extract_archive(entries[0].src, fs.merged, self.dest, owner or ROOT)
            elif entries:
                dest = self._dest_for(fs, posixpath.basename(rel))
                copy_entries(fs.merged, dest, entries, owner=owner, mode=self.mode)
        for url in self.urls:
            path = self.downloaded.get(url)
            if path is None:
                path, _, _ = download(url, fs.dir, checksum)
            dest = self._dest_for(fs, url_filename(url))
            entry = Entry(path, "", "file")
            copy_entries(fs.merged, dest, [entry], owner=owner,
                         mode=self.mode if self.mode is not None else 0o600)  # fmt: skip
        for i, (name, data) in enumerate(self.heredocs):
            path = fs.dir / f"heredoc-{i}"
            path.write_text(data)
            os.chmod(path, 0o644)
            dest = self._dest_for(fs, name)
            copy_entries(fs.merged, dest, [Entry(path, "", "file")], owner=owner, mode=self.mode)
