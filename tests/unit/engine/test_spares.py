"""Which runs may take a container prepared ahead (engine/spares.py): the key, and the
promise behind it: the options it leaves out change nothing of the spec but ``process``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.engine.options import DaemonOptions, RunOptions
from dockyard.engine.spares import PROCESS_FIELDS, SparePool
from dockyard.engine.spec import SpecInputs, build_spec
from dockyard.errors import NotFound
from dockyard.network import PortSpec
from dockyard.records import fields
from dockyard.runtime.users import ExecUser


class _Config:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg

    def to_dict(self) -> dict[str, Any]:
        return self.cfg


def _pool(image_cfg: dict[str, Any] | None = None) -> SparePool:
    image = SimpleNamespace(id="sha256:" + "a" * 64,
                            config=SimpleNamespace(config=_Config(image_cfg or {})))  # fmt: skip

    def resolve(ref: str) -> Any:
        if ref == "nosuch":
            raise NotFound("no such image")
        return image

    daemon = SimpleNamespace(engine=SimpleNamespace(images=SimpleNamespace(resolve=resolve)))
    pool = SparePool(daemon)  # type: ignore[arg-type]
    pool.enabled = True
    return pool


def _key(pool: SparePool, stdio: dict[str, int] | None = None, **kw: Any) -> str | None:
    dkw = {k: kw.pop(k) for k in list(kw) if k in fields(DaemonOptions)}
    return pool.key(RunOptions(image=kw.pop("image", "busybox"), **kw), DaemonOptions(**dkw),
                    stdio)  # fmt: skip


def test_runs_differing_only_in_the_process_share_a_key() -> None:
    pool = _pool()
    base = _key(pool, network="none")
    assert base is not None
    assert _key(pool, network="none", command=["sh", "-c", "exit 3"], env=["A=1"],
                entrypoint=["/bin/env"], name="web", remove=True) == base  # fmt: skip
    assert _key(pool, network="none", memory=64 << 20) != base
    assert _key(pool, network="none", image="busybox:latest") != base  # named in the spec
    assert _key(pool, network="default") not in (None, base)
    assert _key(pool, network="none", user="1000") != base
    assert _key(pool, network="none", restart="always") != base


@pytest.mark.parametrize(
    ("kw", "stdio"),
    [
        ({"tty": True}, None),
        ({"interactive": True}, None),
        ({}, {"stdin": 0, "stdout": 1}),
        ({"volumes": ["/data"]}, None),
        ({"mounts": ["type=tmpfs,dst=/t"]}, None),
        ({"publish": [PortSpec(80, host_port=8080)]}, None),
        ({"publish_all": True}, None),
        ({"network": "host"}, None),
        ({"network": "mynet"}, None),
        ({"network": "container:web"}, None),
        ({"image": "nosuch"}, None),
    ],
)
def test_never_prepared_ahead(kw: dict[str, Any], stdio: dict[str, int] | None) -> None:
    assert _key(_pool(), stdio, **kw) is None


def test_images_with_volumes_and_a_disabled_pool_have_no_key() -> None:
    assert _key(_pool({"Volumes": {"/data": {}}})) is None
    pool = _pool()
    pool.enabled = False
    assert _key(pool) is None


def test_process_fields_change_only_the_process_of_the_spec() -> None:
    inputs = SpecInputs(container_id="c" * 64, rootfs=Path("/r"),
                        image_config={"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                        user=ExecUser(0, 0, (), "/root"), hostname="cccccccccccc",
                        files_dir=Path("/b"), cgroups_path="dockyard/c")  # fmt: skip
    a = build_spec(RunOptions(image="busybox"), inputs)
    b = build_spec(RunOptions(image="busybox", command=["true"],
                              entrypoint=["/bin/env"], env=["X=1"], name="n", remove=True),
                   inputs)  # fmt: skip
    assert set(PROCESS_FIELDS) <= set(fields(RunOptions))
    assert a["process"] != b["process"]
    a.pop("process")
    b.pop("process")
    assert a == b


def test_a_burst_keeps_two_spares_ready_and_a_quiet_key_one() -> None:
    import asyncio

    from dockyard.engine import spares as sp

    async def scenario() -> list[int]:
        pool = _pool()
        tasks: list[Any] = []
        pool.d._spawn = lambda coro: tasks.append(asyncio.ensure_future(coro))  # type: ignore[attr-defined]
        made: list[str] = []
        discarded: list[str] = []

        async def fill(key: str, _o: Any, _d: Any) -> None:
            await asyncio.sleep(0)
            made.append(f"c{len(made)}")
            spare = SimpleNamespace(cid=made[-1], since=sp.time.monotonic())
            pool.ready.setdefault(key, []).append(spare)  # type: ignore[arg-type]

        async def discard(cid: str) -> None:
            discarded.append(cid)

        pool._fill = fill  # type: ignore[method-assign]
        pool.discard = discard  # type: ignore[method-assign]
        opts, dopts = RunOptions(image="busybox"), DaemonOptions()
        depths = []
        pool.want("q", opts, dopts)  # a first run: one spare, later
        await asyncio.gather(*tasks)
        depths.append(len(pool.ready["q"]))
        pool.want("q", opts, dopts)  # again within BURST: two
        await asyncio.gather(*tasks)
        depths.append(len(pool.ready["q"]))
        spare = pool.ready["q"][0]
        assert pool._pop_ready("q") is spare  # the oldest goes first
        pool.last_want["q"] -= sp.BURST_KEEP  # the burst is long over
        pool.want("q", opts, dopts)  # not a burst: one is enough, nothing is made
        depths.append(len(pool.ready["q"]))
        pool.ready["q"].append(SimpleNamespace(cid="extra", since=sp.time.monotonic()))  # type: ignore[arg-type]
        pool.last_want["q"] -= sp.BURST_KEEP
        pool._expire()
        await asyncio.gather(*tasks)
        depths.append(len(pool.ready["q"]))
        assert discarded == ["extra"]
        if pool._expiry is not None:
            pool._expiry.cancel()
        return depths

    assert asyncio.run(scenario()) == [1, 2, 1, 1]
