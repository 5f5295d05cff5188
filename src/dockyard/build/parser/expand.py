"""Variable expansion of typed instructions, as BuildKit's dispatcher does it.

Which parts are expanded (with the stage's ARG/ENV values, through
:class:`~dockyard.build.parser.shell.ShellLex`, honouring the escape token):

======================  =====================================================
FROM                    base image and ``--platform`` (with the meta ARGs)
ENV, LABEL              each key and value (one word each)
ARG                     each key and default
WORKDIR, USER,          the single argument
STOPSIGNAL
EXPOSE                  each port, split into words (``EXPOSE $PORTS``)
VOLUME                  each path
COPY, ADD               sources, destination, ``--from``, ``--chown``,
                        ``--chmod``, ``--exclude``, ``--checksum``
RUN, CMD, ENTRYPOINT,   nothing: the shell (or nobody) expands them
SHELL, HEALTHCHECK,
ONBUILD, MAINTAINER
======================  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TypeVar

from dockyard.errors import InvalidArgument

from .instructions import (
    Add,
    Arg,
    ArgPair,
    Copy,
    Env,
    Expose,
    From,
    Instruction,
    KeyValue,
    Label,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from .shell import ShellLex

__all__ = ["expand_instruction"]

T = TypeVar("T", bound=Instruction)
_Word = Callable[[str], str]


def expand_instruction(
    inst: T, env: Mapping[str, str], escape_token: str = "\\", filename: str = "Dockerfile"
) -> T:
    """A copy of ``inst`` with its expandable parts expanded against ``env``."""
    lex = ShellLex(escape_token)

    def word(text: str) -> str:
        return lex.process_word(text, env)

    try:
        return _expand(inst, lex, env, word)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{filename}:{inst.start_line}: {exc}") from None


def _expand(inst: T, lex: ShellLex, env: Mapping[str, str], word: _Word) -> T:
    out: Instruction = inst
    if isinstance(inst, From):
        out = replace(inst, base=word(inst.base), platform=word(inst.platform))
    elif isinstance(inst, Env | Label):
        out = replace(
            inst, pairs=[KeyValue(word(p.key), word(p.value), p.no_delim) for p in inst.pairs]
        )
    elif isinstance(inst, Arg):
        args = [ArgPair(word(a.key), None if a.value is None else word(a.value)) for a in inst.args]
        out = replace(inst, args=args)
    elif isinstance(inst, Workdir):
        out = replace(inst, path=word(inst.path))
    elif isinstance(inst, User):
        out = replace(inst, user=word(inst.user))
    elif isinstance(inst, StopSignal):
        out = replace(inst, signal=word(inst.signal))
    elif isinstance(inst, Expose):
        out = replace(inst, ports=[w for p in inst.ports for w in lex.process_words(p, env)])
    elif isinstance(inst, Volume):
        out = replace(inst, volumes=[word(v) for v in inst.volumes])
    elif isinstance(inst, Copy | Add):
        out = _expand_copy(inst, word)
    return out  # type: ignore[return-value]


def _expand_copy(inst: Copy | Add, word: _Word) -> Copy | Add:
    common = {
        "sources": [word(s) for s in inst.sources],
        "dest": word(inst.dest),
        "chown": word(inst.chown),
        "chmod": word(inst.chmod),
        "excludes": [word(e) for e in inst.excludes],
    }
    if isinstance(inst, Copy):
        return replace(inst, from_=word(inst.from_), **common)  # type: ignore[arg-type]
    return replace(inst, checksum=word(inst.checksum), **common)  # type: ignore[arg-type]
