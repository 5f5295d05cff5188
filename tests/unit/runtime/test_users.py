from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import NotFound
from dockyard.runtime.users import read_in_root, resolve_in_root, resolve_user

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:app,other\n"


def test_root_by_default() -> None:
    u = resolve_user(None, PASSWD, GROUP)
    assert (u.uid, u.gid, u.home) == (0, 0, "/root")


def test_name_gets_its_groups() -> None:
    u = resolve_user("app", PASSWD, GROUP)
    assert (u.uid, u.gid, u.additional_gids, u.home) == (1000, 1000, (10, 29), "/home/app")


def test_numeric_ids_need_no_entry() -> None:
    u = resolve_user("1234:5678", PASSWD, GROUP)
    assert (u.uid, u.gid, u.additional_gids, u.home) == (1234, 5678, (), "/")


def test_group_by_name_and_group_add() -> None:
    u = resolve_user("app:wheel", PASSWD, GROUP, ["audio", "7"])
    assert (u.uid, u.gid, u.additional_gids) == (1000, 10, (29, 7))


def test_unknown_names_are_not_found() -> None:
    with pytest.raises(NotFound, match="unable to find user nobody"):
        resolve_user("nobody", PASSWD, GROUP)
    with pytest.raises(NotFound, match="unable to find group staff"):
        resolve_user("app:staff", PASSWD, GROUP)


def test_resolution_never_leaves_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (tmp_path / "secret").write_text("host")
    (root / "etc" / "passwd").write_text(PASSWD)
    os.symlink("/../../secret", root / "etc" / "evil")
    os.symlink("../../../../secret", root / "etc" / "evil2")
    assert resolve_in_root(root, "/etc/evil") == root / "secret"
    assert read_in_root(root, "/etc/evil2") is None
    assert read_in_root(root, "etc/passwd") == PASSWD
