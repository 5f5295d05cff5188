"""Base images built offline from the host's Debian package sources.

No image registry is reachable from the machines dockyard is developed on, so
``dockyard image bootstrap NAME`` makes the three base images the project needs
from Debian's packages:

``busybox:latest``
    Debian's ``busybox-static`` binary with a symlink per applet, ``/etc/passwd``
    and ``/etc/group`` (Debian's build has no adduser/addgroup applets).
``debian:bookworm-slim``
    ``debootstrap --variant=minbase`` from the Debian mirror that the host's apt
    sources name (read at run time, never written into the repository); apt
    lists and caches removed.
``python:3.11-slim``
    A second layer on top of ``debian:bookworm-slim``: python3, venv and pip
    installed with apt inside an overlay mount, ``python`` and ``pip`` on PATH
    as in the official image, and pip allowed to install system-wide (the
    ``EXTERNALLY-MANAGED`` marker removed, as the official image has none).

Each image is built once: if the store has it, nothing happens; if the cache
directory holds its OCI archive, the archive is loaded; otherwise it is built
and saved into the cache. Every mount made while building lives in a private
mount namespace (``unshare --mount``), so nothing is left mounted on the host
even when a step fails.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dockyard.errors import InvalidArgument, NotFound, Unavailable

__all__ = ["BASE_IMAGES", "bootstrap", "debian_mirror", "oci_architecture"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX = Path("/bin/busybox")

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
"""


def oci_architecture() -> str:
    """The host's architecture in OCI terms (``amd64``, ``arm64``...)."""
    machine = platform.machine()
    return {
        "x86_64": "amd64",
        "aarch64": "arm64",
        "armv7l": "arm",
        "i686": "386",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(machine, machine)


def _sources_entries(text: str) -> list[tuple[str, list[str]]]:
    """(uri, suites) pairs from a one-line sources.list or a deb822 .sources file."""
    entries: list[tuple[str, list[str]]] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("deb "):
                parts = [p for p in stripped.split() if not p.startswith("[")]
                if len(parts) >= 3:
                    entries.append((parts[1], [parts[2]]))
                continue
            key, sep, value = stripped.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        if "uris" in fields and "deb" in fields.get("types", "deb").split():
            for uri in fields["uris"].split():
                entries.append((uri, fields.get("suites", "").split()))
    return entries


def debian_mirror(suite: str = "bookworm", apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host's apt sources use for ``suite``.

    Read at run time from ``sources.list`` and ``sources.list.d/*.sources|*.list``;
    the security archive is skipped. ``DOCKYARD_DEBIAN_MIRROR`` overrides.
    """
    override = os.environ.get("DOCKYARD_DEBIAN_MIRROR")
    if override:
        return override
    files = [apt_dir / "sources.list"]
    listdir = apt_dir / "sources.list.d"
    if listdir.is_dir():
        files += sorted(p for p in listdir.iterdir() if p.suffix in (".list", ".sources"))
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri, suites in _sources_entries(text):
            if suite in suites and "security" not in uri:
                return uri
    raise Unavailable(f"bootstrap debian:{suite}-slim: no apt source for {suite} in {apt_dir}")


def _run(cmd: list[str], what: str, **kwargs: object) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise Unavailable(f"{what}: exit {proc.returncode}: {' | '.join(tail)}")


def make_busybox_rootfs(dest: Path) -> None:
    """Fill ``dest`` with a busybox root filesystem from the host's busybox-static."""
    if not BUSYBOX.is_file():
        raise Unavailable(
            "bootstrap busybox: /bin/busybox not found (apt-get install busybox-static)"
        )
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home", "proc", "sys",
              "dev", "var/spool/mail", "var/www", "run"):  # fmt: skip
        (dest / d).mkdir(parents=True, exist_ok=True)
    (dest / "tmp").mkdir(mode=0o1777, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    os.chmod(dest / "root", 0o700)
    shutil.copy2(BUSYBOX, dest / "bin/busybox")
    listing = subprocess.run(
        [str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in listing:
        link = dest / rel
        if rel == "bin/busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/bin/busybox", link)
    (dest / "etc/passwd").write_text(PASSWD)
    (dest / "etc/group").write_text(GROUP)
    (dest / "etc/shadow").write_text("root:*:10933:0:99999:7:::\n")
    os.chmod(dest / "etc/shadow", 0o640)
    (dest / "etc/hostname").write_text("localhost\n")


def make_debian_rootfs(dest: Path, suite: str = "bookworm") -> None:
    """``debootstrap --variant=minbase`` into ``dest``, then slim it down."""
    if shutil.which("debootstrap") is None:
        raise Unavailable("bootstrap debian: debootstrap not found (apt-get install debootstrap)")
    mirror = debian_mirror(suite)
    _run(
        ["unshare", "--mount", "--propagation", "private", "--fork",
         "debootstrap", "--variant=minbase", suite, str(dest), mirror],
        f"bootstrap debian:{suite}-slim: debootstrap",
    )  # fmt: skip
    for pattern in ("var/lib/apt/lists", "var/cache/apt", "var/cache/debconf", "var/log"):
        target = dest / pattern
        for child in target.glob("*") if target.is_dir() else []:
            if child.is_dir() and not child.is_symlink():
                if pattern == "var/lib/apt/lists" and child.name == "partial":
                    continue
                shutil.rmtree(child)
            elif pattern != "var/cache/debconf" or child.name.endswith("-old"):
                child.unlink()
    _slim(dest)
    for leftover in ("etc/resolv.conf", "etc/hostname"):
        p = dest / leftover
        if p.is_file() or p.is_symlink():
            p.unlink()
    (dest / "etc/apt/sources.list").write_text(f"deb {mirror} {suite} main\n")


# As the official slim images: no docs, man pages or locales, now or after later apt installs.
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


def _slim(dest: Path) -> None:
    """Empty /dev (the runtime makes the devices), drop docs, man pages and locales."""
    for child in (dest / "dev").iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (dest / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (dest / "etc/dpkg/dpkg.cfg.d/dockyard-slim").write_text(DPKG_EXCLUDES)
    for rel in ("usr/share/man", "usr/share/groff", "usr/share/info", "usr/share/lintian",
                "usr/share/linda"):  # fmt: skip
        shutil.rmtree(dest / rel, ignore_errors=True)
        (dest / rel).mkdir(parents=True, exist_ok=True)
    doc = dest / "usr/share/doc"
    for pkg in doc.iterdir() if doc.is_dir() else []:
        for item in pkg.iterdir() if pkg.is_dir() and not pkg.is_symlink() else []:
            if item.name != "copyright":
                shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
    locale = dest / "usr/share/locale"
    for item in locale.iterdir() if locale.is_dir() else []:
        if item.name != "locale.alias":
            shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()


PYTHON_SCRIPT = """\
set -e
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip >/dev/null
ln -sf /usr/bin/python3 /usr/local/bin/python
ln -sf /usr/bin/pip3 /usr/local/bin/pip
rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
rm -rf /var/log/apt /var/log/dpkg.log
find / -xdev -name __pycache__ -type d -prune -exec rm -rf {} +
python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' > /tmp/.python-version
"""


def make_python_layer(lower: list[Path], upper: Path, work: Path) -> str:
    """Install python3, venv and pip on top of ``lower`` into the overlay ``upper``.

    Returns the installed Python version. Everything is mounted inside a
    private mount namespace that vanishes with the command.
    """
    merged = work.parent / "merged"
    merged.mkdir(exist_ok=True)
    lowerdirs = ":".join(str(p) for p in lower)
    script = (
        f"set -e; mount -t overlay overlay -o lowerdir={lowerdirs},upperdir={upper},"
        f"workdir={work} {merged}; "
        f"mount -t proc proc {merged}/proc; mount --bind /dev {merged}/dev; "
        f"cp /etc/resolv.conf {merged}/etc/resolv.conf; "
        f'chroot {merged} /bin/sh -ec "$1"; '
        f"rm -f {merged}/etc/resolv.conf; cat {merged}/tmp/.python-version; "
        f"rm -f {merged}/tmp/.python-version"
    )
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--fork",
         "sh", "-c", script, "bootstrap", PYTHON_SCRIPT],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise Unavailable(f"bootstrap python:3.11-slim: exit {proc.returncode}: {' | '.join(tail)}")
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "3"


@dataclass(frozen=True)
class BaseImage:
    """How to make one base image."""

    name: str
    parent: str | None
    cmd: tuple[str, ...]
    env: tuple[str, ...]
    comment: str


BASE_IMAGES: dict[str, BaseImage] = {
    "docker.io/library/busybox:latest": BaseImage(
        "busybox:latest", None, ("sh",), (f"PATH={DEFAULT_PATH}",),
        "busybox-static from the host's Debian packages",
    ),
    "docker.io/library/debian:bookworm-slim": BaseImage(
        "debian:bookworm-slim", None, ("bash",), (f"PATH={DEFAULT_PATH}",),
        "debootstrap --variant=minbase bookworm",
    ),
    "docker.io/library/python:3.11-slim": BaseImage(
        "python:3.11-slim", "debian:bookworm-slim", ("python3",),
        (f"PATH={DEFAULT_PATH}", "LANG=C.UTF-8"),
        "apt-get install python3 python3-venv python3-pip",
    ),
}  # fmt: skip


def _now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _config_dict(
    base: BaseImage, parent_config: dict[str, object] | None, diff_id: str, env: tuple[str, ...]
) -> dict[str, object]:
    created = _now()
    diff_ids: list[str] = []
    history: list[dict[str, object]] = []
    if parent_config is not None:
        rootfs = parent_config.get("rootfs")
        if isinstance(rootfs, dict):
            diff_ids = list(rootfs.get("diff_ids", []))
        prev = parent_config.get("history")
        if isinstance(prev, list):
            history = list(prev)
    diff_ids.append(diff_id)
    history.append({"created": created, "created_by": f"dockyard bootstrap: {base.comment}"})
    return {
        "architecture": oci_architecture(),
        "os": "linux",
        "created": created,
        "config": {"Env": list(env), "Cmd": list(base.cmd)},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }


def bootstrap(
    root: Path,
    names: list[str],
    *,
    cache: Path | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> list[str]:
    """Make sure each base image in ``names`` is in the store at ``root``.

    Returns the full references that were built or loaded (not the ones that
    were already present). Unknown names raise InvalidArgument.
    """
    from dockyard.oci.reference import parse_reference

    wanted: list[str] = []
    for name in names:
        full = str(parse_reference(name))
        if full not in BASE_IMAGES:
            known = ", ".join(b.name for b in BASE_IMAGES.values())
            raise InvalidArgument(f"bootstrap {name}: not a base image dockyard can make ({known})")
        parent = BASE_IMAGES[full].parent
        if parent is not None:
            pfull = str(parse_reference(parent))
            if pfull not in wanted:
                wanted.append(pfull)
        if full not in wanted:
            wanted.append(full)
    done: list[str] = []
    for full in wanted:
        if _ensure(root, full, cache, progress):
            done.append(full)
    return done


def _ensure(root: Path, full: str, cache: Path | None, progress: Callable[[str], None]) -> bool:
    from dockyard.store.archive import load_archive
    from dockyard.store.images import ImageStore

    store = ImageStore(root)
    base = BASE_IMAGES[full]
    archive = cache / (base.name.replace(":", "_") + ".tar") if cache else None
    try:
        store.resolve(full)
    except NotFound:
        pass
    else:
        if archive is not None and not archive.is_file():
            _save(store, full, archive)  # keep the cache filled for tests
        return False
    if archive is not None and archive.is_file():
        progress(f"loading {base.name} from {archive}")
        load_archive(store, archive)
        return True
    progress(f"building {base.name}")
    _build(store, root, full, base)
    if archive is not None:
        _save(store, full, archive)
    return True


def _save(store: object, full: str, archive: Path) -> None:
    from dockyard.store.archive import save_archive
    from dockyard.store.images import ImageStore

    assert isinstance(store, ImageStore)
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_suffix(".tmp")
    save_archive(store, [full], tmp)
    tmp.replace(archive)


def _build(store: object, root: Path, full: str, base: BaseImage) -> None:
    import json

    from dockyard.oci.image import parse_config
    from dockyard.store.images import ImageStore
    from dockyard.store.layers import diff_upper, tar_directory

    assert isinstance(store, ImageStore)
    tmp_root = root / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bootstrap-", dir=tmp_root) as tmp:
        work = Path(tmp)
        layer_file = work / "layer.tar.gz"
        env = base.env
        parent_config: dict[str, object] | None = None
        if base.parent is None:
            fs = work / "rootfs"
            fs.mkdir()
            if base.name.startswith("busybox"):
                make_busybox_rootfs(fs)
            else:
                make_debian_rootfs(fs)
            with layer_file.open("wb") as out:
                info = tar_directory(fs, out)
        else:
            parent = store.resolve(base.parent)
            parent_config = json.loads(store.blobs.read_bytes(parent.id))
            upper, ovl_work = work / "upper", work / "work"
            upper.mkdir()
            ovl_work.mkdir()
            version = make_python_layer(store.lowerdirs(parent), upper, ovl_work)
            env = (*env, f"PYTHON_VERSION={version}")
            with layer_file.open("wb") as out:
                info = diff_upper(upper, out)
        config = parse_config(
            json.dumps(_config_dict(base, parent_config, str(info.diff_id), env)).encode()
        )
        layers: list[Path] = []
        if base.parent is not None:
            parent_img = store.resolve(base.parent)
            layers = [store.blobs.path(d.digest) for d in parent_img.manifest.layers]
        image = store.create_image([*layers, layer_file], config, tags=[full])
        store.lower_dirs(image)  # unpacked now, as a loaded image is: builds start at once
