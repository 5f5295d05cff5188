"""``POST /build?labels=``: one LABEL after the built stage, its words taken literally."""

from __future__ import annotations

import pytest

from dockyard.api.build import with_labels
from dockyard.build.parser import parse_dockerfile
from dockyard.build.parser.expand import expand_instruction
from dockyard.build.parser.instructions import Label, instructions_from_ast
from dockyard.build.state import ImageState, apply_metadata
from dockyard.errors import InvalidArgument

TWO_STAGES = "FROM busybox AS first\nRUN true\n\nFROM busybox\nENV X=1\n"


def _labels_of_stage(text: str, index: int) -> dict[str, str]:
    """The labels the stage's image gets, its words expanded as the builder does."""
    parsed = parse_dockerfile(text)
    stages, _args = instructions_from_ast(parsed)
    state = ImageState("amd64", "linux", {"Env": ["X=1"]})
    for inst in stages[index].instructions:
        if isinstance(inst, Label):
            apply_metadata(state, expand_instruction(inst, {"X": "1"}, parsed.escape_token))
    return dict(state.config.get("Labels") or {})


def test_the_last_stage_gets_the_labels_literally() -> None:
    labels = {"test": "OK", "money": "$X and \\$HOME", 'q"uote': 'a "b"'}
    text = with_labels(TWO_STAGES, labels, None)
    assert _labels_of_stage(text, 1) == labels
    assert _labels_of_stage(text, 0) == {}


def test_a_target_stage_gets_them() -> None:
    text = with_labels(TWO_STAGES, {"a": "b"}, "FIRST")
    assert _labels_of_stage(text, 0) == {"a": "b"}
    assert _labels_of_stage(text, 1) == {}


def test_the_escape_directive_is_honoured() -> None:
    text = with_labels("# escape=`\nFROM busybox\n", {"p": "C:\\x `y` $z"}, None)
    assert _labels_of_stage(text, 0) == {"p": "C:\\x `y` $z"}


def test_a_newline_in_a_label_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="newlines"):
        with_labels(TWO_STAGES, {"a": "b\nRUN rm -rf /"}, None)


def test_a_failed_run_is_told_in_the_classic_builders_words() -> None:
    from dockyard.api.build import classic_error

    got = classic_error('Dockerfile:2: process "/bin/sh -c exit 1" did not complete '
                        "successfully: exit code: 1")  # fmt: skip
    assert got == "The command '/bin/sh -c exit 1' returned a non-zero code: 1"
    assert classic_error('process "a \\"b\\"" did not complete successfully: exit code: 7') == (
        "The command 'a \"b\"' returned a non-zero code: 7"
    )
    assert classic_error("Dockerfile:1: unknown instruction: RUNN") == (
        "Dockerfile:1: unknown instruction: RUNN"
    )
