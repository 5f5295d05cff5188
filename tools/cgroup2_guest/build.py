"""Build the guest: debootstrap a Debian tree, configure it, pack it into an ext4 image.

Artifacts, under ``.cache/cgroup2-guest/`` (git-ignored):

``vmlinuz``, ``initrd.img``  the guest's own kernel and initramfs, booted with ``-kernel``
``disk.img``                 a sparse ext4 image (``mkfs.ext4 -d``: no loop mount), opened
                             by each run with ``snapshot=on``
``stamp``                    the cache key of the build that made them

The cache key covers the package list, the suite, the image size and every file written
into the guest; ``build`` is a no-op while the stamp matches. A build writes to temporary
names and renames at the end, under a lock, so a run that is booting keeps its files.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import guestfiles
from .errors import GuestError
from .sources import host_sources, pick_mirror

SUITE = "bookworm"
IMAGE_SIZE = "8G"  # sparse; pytest's tmp_path and the tests' stores live on it
BUILD_VERSION = "1"

# The guest's Debian packages: a systemd host (systemd-sysv, udev, dbus and libpam-systemd
# for logind sessions), its kernel, and what the cgroup tests call (Makefile's
# APT_PACKAGES without the anchor tools: runc, crun, podman, skopeo, umoci, buildah,
# docker.io, docker-registry, and without the bench tools wrk and haproxy).
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "libpam-systemd",
    "kmod",
    "linux-image-amd64",
    "initramfs-tools",
    "python3",
    "python3-venv",
    "libseccomp2",
    "libyaml-0-2",
    "busybox-static",
    "iproute2",
    "nftables",
    "procps",
    "util-linux",
    "uidmap",
    "slirp4netns",  # the build's sandbox network (RUN steps with a network)
    "openssl",
    "ca-certificates",
    "gzip",
    "tar",
)

TOOLS = ("debootstrap", "mkfs.ext4", "qemu-system-x86_64")


@dataclass(frozen=True)
class Cache:
    """Where one checkout keeps its guest."""

    dir: Path

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"

    @property
    def disk(self) -> Path:
        return self.dir / "disk.img"

    @property
    def stamp(self) -> Path:
        return self.dir / "stamp"

    @property
    def runs(self) -> Path:
        return self.dir / "runs"

    @property
    def log(self) -> Path:
        return self.dir / "build.log"


def cache_key() -> str:
    parts = [BUILD_VERSION, SUITE, IMAGE_SIZE, *PACKAGES, guestfiles.fingerprint()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def is_built(cache: Cache) -> bool:
    artifacts = (cache.kernel, cache.initrd, cache.disk, cache.stamp)
    if not all(p.is_file() for p in artifacts):
        return False
    return cache.stamp.read_text().strip() == cache_key()


@contextmanager
def _locked(cache: Cache) -> Iterator[None]:
    cache.dir.mkdir(parents=True, exist_ok=True)
    with open(cache.dir / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _say(message: str) -> None:
    print(f"cgroup2-guest: {message}", file=sys.stderr, flush=True)


def _check_host() -> None:
    if os.geteuid() != 0:
        raise GuestError("build: needs root (debootstrap, and root-owned files in the image)")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise GuestError(f"build: {', '.join(missing)} not installed (make cgroup2-guest-deps)")


def _step(cache: Cache, what: str, argv: list[str]) -> None:
    with open(cache.log, "a") as log:
        log.write(f"\n$ {' '.join(argv)}\n")
        log.flush()
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise GuestError(f"build: {what} failed with status {done.returncode} (log: {cache.log})")


def _only(rootfs: Path, pattern: str) -> Path:
    found = sorted((rootfs / "boot").glob(pattern))
    if len(found) != 1:
        raise GuestError(f"build: expected one /boot/{pattern} in the guest, found {len(found)}")
    return found[0]


def _debootstrap(cache: Cache, rootfs: Path) -> None:
    mirror = pick_mirror(host_sources(), SUITE)
    argv = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE]
    _step(cache, "debootstrap", [*argv, str(rootfs), mirror])
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)


def _pack(cache: Cache, rootfs: Path) -> None:
    shutil.copyfile(_only(rootfs, "vmlinuz-*"), str(cache.kernel) + ".tmp")
    shutil.copyfile(_only(rootfs, "initrd.img-*"), str(cache.initrd) + ".tmp")
    disk_tmp = Path(str(cache.disk) + ".tmp")
    disk_tmp.unlink(missing_ok=True)
    mkfs = ["mkfs.ext4", "-q", "-F", "-L", guestfiles.HOSTNAME, "-d", str(rootfs)]
    _step(cache, "mkfs.ext4", [*mkfs, str(disk_tmp), IMAGE_SIZE])
    for path in (cache.kernel, cache.initrd, cache.disk):
        os.replace(str(path) + ".tmp", path)


def build(cache: Cache) -> bool:
    """Build the guest unless the cached one is current; True when it built."""
    with _locked(cache):
        if is_built(cache):
            return False
        _check_host()
        cache.log.write_text("")
        rootfs = cache.dir / "rootfs.tmp"
        shutil.rmtree(rootfs, ignore_errors=True)
        started = time.monotonic()
        try:
            _say(f"debootstrap {SUITE} into {rootfs} (a few minutes; log: {cache.log})")
            _debootstrap(cache, rootfs)
            guestfiles.install(rootfs)
            _step(cache, "update-initramfs", ["chroot", str(rootfs), "update-initramfs", "-u"])
            _say("pack the ext4 image")
            _pack(cache, rootfs)
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
        cache.stamp.write_text(cache_key() + "\n")
        _say(f"built in {time.monotonic() - started:.0f} s")
        return True
