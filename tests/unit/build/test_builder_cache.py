"""Cache keys, context selection and its checksums, the cache records, the RUN spec."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.build.cache import BuildCache, CacheRecord, step_key
from dockyard.build.context import SourceTree, checksum, load_context
from dockyard.build.runner import RunRequest, build_run_spec
from dockyard.build.state import LayerRef
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.digest import sha256_digest


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "a.py").write_text("a\n")
    (root / "src" / "b.py").write_text("b\n")
    (root / "src" / "pkg" / "c.py").write_text("c\n")
    (root / "src" / "notes.log").write_text("log\n")
    (root / "README.md").write_text("readme\n")
    (root / "requirements.txt").write_text("")
    (root / ".dockerignore").write_text("**/*.log\n*.md\n!README.md\n")
    (root / "link-in").symlink_to("src/a.py")
    (root / "link-out").symlink_to("/etc/passwd")
    (root / "link-up").symlink_to("../outside")
    (tmp_path / "outside").write_text("secret\n")
    return root


def _sum(tree: SourceTree, src: str, excludes: list[str] | None = None) -> list[list[object]]:
    return [row for m in tree.match(src) for row in checksum(tree.entries(m, excludes))]


def test_step_key_is_stable_and_sensitive() -> None:
    assert step_key("p", ["RUN", ["a"]]) == step_key("p", ["RUN", ["a"]])
    assert step_key("p", ["RUN", ["a"]]) != step_key("q", ["RUN", ["a"]])
    assert step_key("p", {"b": 1, "a": 2}) == step_key("p", {"a": 2, "b": 1})
    assert step_key("p", ["x"]).startswith("sha256:")


def test_touch_keeps_checksum_and_edit_changes_it(ctx: Path) -> None:
    tree = load_context(ctx)
    before = _sum(tree, "src")
    os.utime(ctx / "src" / "a.py", (1, 1))
    assert _sum(tree, "src") == before
    (ctx / "src" / "notes.log").write_text("ignored edit\n")
    assert _sum(tree, "src") == before
    (ctx / "src" / "a.py").write_text("edited\n")
    assert _sum(tree, "src") != before


def test_mode_change_changes_checksum(ctx: Path) -> None:
    tree = load_context(ctx)
    before = _sum(tree, "src/b.py")
    os.chmod(ctx / "src" / "b.py", 0o755)
    assert _sum(tree, "src/b.py") != before


# (source, files selected: destination paths relative to the copy's destination)
SELECT = [
    ("src", ["", "a.py", "b.py", "pkg", "pkg/c.py"]),  # a directory copies its contents
    ("src/*.py", ["", ""]),
    ("src/*", ["", "", "", "c.py"]),
    ("*.md", [""]),
    ("/requirements.txt", [""]),
    ("./src/../requirements.txt", [""]),
    ("link-in", [""]),
    ("src/p?g", ["", "c.py"]),
]


@pytest.mark.parametrize(("src", "dests"), SELECT)
def test_selection(ctx: Path, src: str, dests: list[str]) -> None:
    tree = load_context(ctx)
    got = [e.dest for m in tree.match(src) for e in tree.entries(m)]
    assert got == dests


def test_ignored_files_do_not_exist_for_copy(ctx: Path) -> None:
    tree = load_context(ctx)
    with pytest.raises(NotFound, match="not found"):
        tree.match("src/notes.log")
    assert [m.rel for m in tree.match("*.md")] == ["README.md"]
    with pytest.raises(NotFound):
        tree.match("*.nothing")


def test_exclude_flag(ctx: Path) -> None:
    tree = load_context(ctx)
    got = [e.dest for m in tree.match("src") for e in tree.entries(m, ["pkg", "b.py"])]
    assert got == ["", "a.py"]


@pytest.mark.parametrize("src", ["../outside", "src/../../outside", "/etc/passwd", "link-out",
                                 "link-up", "link-up/x"])  # fmt: skip
def test_sources_outside_the_context_are_errors(ctx: Path, src: str) -> None:
    with pytest.raises(InvalidArgument, match="outside the build context"):
        load_context(ctx).match(src)


def test_stage_trees_resolve_symlinks_as_chrooted(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "f").write_text("x")
    (tmp_path / "abs").symlink_to("/etc")
    tree = SourceTree(tmp_path, confined=False)
    assert tree.resolve("abs/f") == tmp_path / "etc" / "f"
    assert tree.resolve("../../etc/f") == tmp_path / "etc" / "f"


def test_dockerfile_specific_ignore_file_wins(ctx: Path) -> None:
    (ctx / "app.Dockerfile.dockerignore").write_text("src\n")
    with pytest.raises(NotFound):
        load_context(ctx, ("app.Dockerfile",)).match("src/a.py")
    assert load_context(ctx, ("Dockerfile",)).match("src/a.py")


def test_cache_records(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    layer = LayerRef(sha256_digest(b"l"), sha256_digest(b"d"), 3)
    cache.put("k1", CacheRecord(layer, "2024-01-01T00:00:00Z"))
    cache.put("k2", CacheRecord(None, "2024-01-01T00:00:00Z"))
    assert cache.get("k1") == CacheRecord(layer, "2024-01-01T00:00:00Z")
    assert cache.get("k2") is not None and cache.get("k2").layer is None  # type: ignore[union-attr]
    assert cache.get("nope") is None
    assert cache.prune() == 2
    assert cache.get("k1") is None
    cache.close()
    assert (tmp_path / "buildcache" / "cache.db").is_file()


def test_run_spec() -> None:
    req = RunRequest(argv=["/bin/sh", "-c", "true"], env=["A=1"], cwd="/app", user="",
                     network="none")  # fmt: skip
    spec = build_run_spec(req, Path("/r"), Path("/f"), 1000, 1000, (27,), "/home/u", "dockyard/x")
    ns = [n["type"] for n in spec["linux"]["namespaces"]]
    assert "network" in ns and "user" not in ns
    assert (
        spec["process"]["env"][0].startswith("PATH=") and "HOME=/home/u" in spec["process"]["env"]
    )
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [27]}
    assert {m["destination"] for m in spec["mounts"]} >= {"/proc", "/etc/resolv.conf", "/etc/hosts"}
    req.network, req.netns = "default", "/proc/42/ns/net"  # the build's sandbox network
    spec = build_run_spec(req, Path("/r"), Path("/f"), 0, 0, (), "/root", "dockyard/x")
    assert {"type": "network", "path": "/proc/42/ns/net"} in spec["linux"]["namespaces"]
    req.network = "host"
    spec = build_run_spec(req, Path("/r"), Path("/f"), 0, 0, (), "/root", "dockyard/x")
    assert "network" not in [n["type"] for n in spec["linux"]["namespaces"]]


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 17])
def test_parallel_gzip_is_plain_gzip_and_deterministic(size: int) -> None:
    import gzip
    import io

    from dockyard.build.pgzip import ParallelGzipWriter

    data = os.urandom(size // 2) + b"a" * (size - size // 2)
    outs = []
    for threads in (2, 3):
        buf = io.BytesIO()
        w = ParallelGzipWriter(buf, threads=threads)
        for i in range(0, len(data), 70_000):
            w.write(data[i : i + 70_000])
        w.close()
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    assert gzip.decompress(outs[0]) == data


def test_parallel_gzip_stores_incompressible_chunks() -> None:
    import gzip
    import io

    from dockyard.build.pgzip import CHUNK, ParallelGzipWriter

    noise = os.urandom(3 * CHUNK)
    text = b"the same words again and again\n" * (CHUNK // 16)
    outs = []
    for threads in (1, 2, 4):
        buf = io.BytesIO()
        w = ParallelGzipWriter(buf, threads=threads)
        w.write(noise)
        w.write(text)
        w.close()
        outs.append(buf.getvalue())
    assert outs[0] == outs[1] == outs[2]  # the choice depends on the bytes only
    assert gzip.decompress(outs[0]) == noise + text
    # stored blocks: the noise costs a few bytes per 64 KiB; the text still compresses
    assert len(noise) < len(outs[0]) < len(noise) + len(text) // 20


def test_file_sums_do_not_remember_a_file_changed_just_now(tmp_path: Path) -> None:
    from dockyard.build.cache import FileSums

    cache = BuildCache(tmp_path / "root")
    f = tmp_path / "a.txt"
    f.write_text("hello\n")  # a write within RACY_NS could still carry the same ctime
    sums = FileSums(cache)
    assert sums.digest(f, os.lstat(f)) == sha256_digest(b"hello\n").hex
    assert sums.pending == []
    sums.save()
    again = FileSums(cache)
    again.digest(f, os.lstat(f))
    assert again.hashed == 1


def test_file_sums_trust_only_an_unchanged_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from dockyard.build import cache as cache_mod
    from dockyard.build.cache import FileSums

    monkeypatch.setattr(cache_mod, "RACY_NS", 0)  # no coarse clock to wait out in a test
    cache = BuildCache(tmp_path / "root")
    f = tmp_path / "a.txt"
    f.write_text("hello\n")
    time.sleep(0.01)
    sums = FileSums(cache)
    digest = sums.digest(f, os.lstat(f))
    sums.save()
    hit = FileSums(cache)
    assert hit.digest(f, os.lstat(f)) == digest and hit.hashed == 0  # nothing read
    os.utime(f)  # touch: the stat changed, the content did not
    touched = FileSums(cache)
    assert touched.digest(f, os.lstat(f)) == digest and touched.hashed == 1
    f.write_text("hellO\n")  # same size, new content
    edited = FileSums(cache)
    assert edited.digest(f, os.lstat(f)) == sha256_digest(b"hellO\n").hex
    cache.prune()
    assert cache.get_memo("x") is None
    pruned = FileSums(cache)
    pruned.digest(f, os.lstat(f))
    assert pruned.hashed == 1
