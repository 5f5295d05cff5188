"""The public API of dockyard.build.parser is pinned."""

from __future__ import annotations

from dockyard.build import parser
from dockyard.build.parser import instructions


def test_parser_all() -> None:
    assert sorted(parser.__all__) == [
        "Directive",
        "Heredoc",
        "Node",
        "ParseResult",
        "ParseWarning",
        "ShellLex",
        "Stage",
        "chomp_heredoc_content",
        "detect_syntax",
        "dump_ast",
        "instructions_from_ast",
        "parse_directive",
        "parse_dockerfile",
        "parse_instruction",
        "print_ast",
        "process_word",
        "process_words",
        "read_dockerfile",
    ]
    for name in parser.__all__:
        assert getattr(parser, name) is not None


def test_instruction_classes_have_syntax_docstrings() -> None:
    for name in instructions.__all__:
        obj = getattr(instructions, name)
        if isinstance(obj, type) and issubclass(obj, instructions.Instruction):
            if obj is instructions.Instruction:
                continue
            doc = obj.__doc__ or ""
            assert doc.startswith("``" + name.upper()), name
