"""oci/_strict.py: the one strict field reader behind the runtime spec and its resources."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import _strict as s
from dockyard.oci.resources import parse_resources
from dockyard.oci.runtime_spec import parse_process


def test_paths_join_in_both_styles() -> None:
    assert s.at("process.", "cwd") == "process.cwd"
    assert s.at("", "ociVersion") == "ociVersion"
    assert s.at("linux.resources.memory", "limit") == "linux.resources.memory.limit"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: s.opt_int({"a": True}, "a", "x."), "x.a: expected an integer"),
        (lambda: s.opt_int({"a": -1}, "a", "x", minimum=0), "x.a: must be at least 0"),
        (lambda: s.req_int({}, "a", "x"), "x.a: required"),
        (lambda: s.req_str({"a": ""}, "a", "x."), "x.a: required"),
        (lambda: s.opt_bool({"a": 1}, "a", "x"), "x.a: expected a boolean"),
        (lambda: s.strs({"a": ["b", 2]}, "a", "x."), "x.a[1]: expected a string"),
        (lambda: s.str_map({"a": {"k": 1}}, "a", "x."), "x.a.k: expected a string"),
        (lambda: s.obj([], "x"), "x: expected an object"),
    ],
)
def test_a_wrong_type_names_the_field(call: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        call()
    assert str(e.value) == message


def test_absent_reads_as_absent() -> None:
    assert s.opt_int({"a": None}, "a", "") is None
    assert s.opt_list({}, "a", "") == []
    assert s.strs({}, "a", "") == ()
    assert s.str_map({}, "a", "") == {}


def test_both_parsers_name_the_field_the_same_way() -> None:
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.memory\.limit: expected an"):
        parse_resources({"memory": {"limit": "1g"}})
    with pytest.raises(InvalidArgument, match=r"^process\.terminal: expected a boolean$"):
        parse_process({"terminal": "yes", "cwd": "/", "args": ["sh"]})
    assert parse_process({"cwd": "/", "args": ["sh"]}).terminal is False  # absent is false
