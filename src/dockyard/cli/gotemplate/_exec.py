"""Go's ``text/template`` executor (``exec.go``) over JSON-shaped data.

Variables are a stack of ``[name, value]`` cells cut back at each ``{{end}}``; a
command's value flows into the next command as its last argument; a missing map
key is :data:`MISSING` (Go's invalid value), distinct from JSON ``null``.
"""

from __future__ import annotations

from dockyard.cli.gotemplate._funcs import (
    FUNCS,
    MISSING,
    FuncError,
    convert,
    docker_zero,
    index_fn,
    truth,
)
from dockyard.cli.gotemplate._gofmt import go_type, key_order, quote, sprint_value
from dockyard.cli.gotemplate._parse import (
    Action,
    Call,
    Chain,
    Cmd,
    Control,
    Dot,
    Field,
    Ident,
    Lit,
    Node,
    Parser,
    Pipe,
    Text,
    Var,
    where,
)
from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # ``typing`` costs a start-up; mypy honours this constant
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from dockyard.cli.gotemplate._funcs import Fn


__all__ = ["Template"]

_NOFINAL: Any = object()  # no value piped in from the previous command


# What docker's typed data gives for a null map or slice (labels, Cmd, Env, ...)
_NIL_COLLECTION: dict[str, Any] = {"len": 0, "index": "", "join": ""}


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exec:
    def __init__(
        self, tpl: Template, root: Any, missingkey: str, typed: bool, funcs: dict[str, Fn]
    ) -> None:
        self.tpl = tpl
        self.vars: list[list[Any]] = [["$", root]]
        self.missingkey = missingkey
        self.typed = typed
        self.nil_text = "<nil>" if typed else "<no value>"
        self.funcs = funcs
        self.out: list[str] = []
        self.zero: Callable[[dict[Any, Any]], Any] = docker_zero if typed else lambda m: None

    def fail(self, node: Node, msg: str) -> InvalidArgument:
        text = self.tpl.text
        src = node.src.replace("\n", "\\n")
        return InvalidArgument(
            f'template: :{where(text, node.pos)}: executing "" at <{src}>: {msg}'
        )

    def walk(self, dot: Any, nodes: list[Node]) -> None:
        for node in nodes:
            t = type(node)
            if t is Text:
                self.out.append(node.src)
            elif t is Action:
                pipe = node.pipe  # type: ignore[attr-defined]
                val = self.pipe(dot, pipe)
                if not pipe.decl:
                    self.out.append(self.text_of(val))
            elif t is Control:
                self.control(dot, node)  # type: ignore[arg-type]
            elif t is Call:
                self.call_template(dot, node)  # type: ignore[arg-type]
            elif node.src == "break":
                raise _Break
            else:
                raise _Continue

    def text_of(self, v: Any) -> str:
        if v is MISSING:
            return "<no value>"
        if v is None:
            return self.nil_text
        return sprint_value(v)

    def control(self, dot: Any, node: Control) -> None:
        mark = len(self.vars)
        try:
            val = self.pipe(dot, node.pipe)
            if node.src == "range":
                self.range(dot, node, val)
            elif truth(val):
                self.walk(val if node.src == "with" else dot, node.body)
            elif node.orelse is not None:
                self.walk(dot, node.orelse)
        finally:
            del self.vars[mark:]

    def range(self, dot: Any, node: Control, val: Any) -> None:
        pairs: Iterable[tuple[Any, Any]]
        if isinstance(val, dict):
            pairs = sorted(val.items(), key=key_order)
        elif isinstance(val, (list, tuple)):
            pairs = enumerate(val)
        elif isinstance(val, int) and not isinstance(val, bool):
            if len(node.pipe.decl) > 1:
                raise self.fail(
                    node.pipe.cmds[-1], f"can't use {val} to iterate over more than one variable"
                )
            pairs = ((i, i) for i in range(val))  # lazily: {{range 1000000000}} is no list
        elif val is None or val is MISSING:
            pairs = ()
        else:
            raise self.fail(node.pipe.cmds[-1], f"range can't iterate over {sprint_value(val)}")
        if not self.iterate(node, pairs) and node.orelse is not None:
            self.walk(dot, node.orelse)

    def iterate(self, node: Control, pairs: Iterable[tuple[Any, Any]]) -> bool:
        """Run the body of ``range`` once per (key, element); whether it ran at all."""
        decl, assign = node.pipe.decl, node.pipe.assign
        mark = len(self.vars)
        ran = False
        try:
            for key, elem in pairs:
                ran = True
                if assign:  # range $i, $e = ...: index first; with one variable, the element
                    pair = (key, elem) if len(decl) > 1 else (elem,)
                    for name, v in zip(decl, pair, strict=True):
                        self.set_var(name, v)
                elif decl:  # declared: the last variable pushed is the element
                    self.vars[mark - 1][1] = elem
                    if len(decl) > 1:
                        self.vars[mark - 2][1] = key
                try:
                    self.walk(elem, node.body)
                except _Continue:
                    pass
                finally:
                    del self.vars[mark:]
        except _Break:
            pass
        return ran

    def call_template(self, dot: Any, node: Call) -> None:
        body = self.tpl.defs.get(node.src)
        if body is None:
            at = Node(node.pos, f"{{{{template {quote(node.src)}}}}}")
            raise self.fail(at, f"template {quote(node.src)} not defined")
        val = None if node.pipe is None else self.pipe(dot, node.pipe)
        saved, self.vars = self.vars, [["$", val]]
        try:
            self.walk(val, body)
        finally:
            self.vars = saved

    def pipe(self, dot: Any, pipe: Pipe) -> Any:
        val = _NOFINAL
        for cmd in pipe.cmds:
            val = self.command(dot, cmd, val)
            if val is None and not self.typed:
                val = MISSING  # Go unwraps a nil interface{} into the invalid value
        for name in pipe.decl:
            if pipe.assign:
                self.set_var(name, val)
            else:
                self.vars.append([name, val])
        return val

    def set_var(self, name: str, val: Any) -> None:
        for slot in reversed(self.vars):
            if slot[0] == name:
                slot[1] = val
                return

    def lookup(self, node: Node, name: str) -> Any:
        for slot in reversed(self.vars):
            if slot[0] == name:
                return slot[1]
        # The parser knows $x from its declaration on, but {{$x := $x}} reads it before
        # it holds a value: Go's "undefined variable" at run time.
        raise self.fail(node, f"undefined variable: {name}")

    def command(self, dot: Any, cmd: Cmd, final: Any) -> Any:
        first, args = cmd.args[0], cmd.args
        if isinstance(first, Var):
            val = self.lookup(first, first.names[0])
            if len(first.names) == 1:
                self.not_a_function(first, args, final)
                return val
            return self.chain(dot, val, first, first.names[1:], args, final)
        if isinstance(first, Field):
            return self.chain(dot, dot, first, first.names, args, final)
        if isinstance(first, Chain):
            if len(args) > 1:
                raise self.fail(first, f"can't give argument to non-function {first.src}")
            return self.chain(dot, self.arg(dot, first.node), first, first.names, args, final)
        if isinstance(first, Ident):
            return self.function(dot, cmd, first.src, args, final)
        self.not_a_function(first, args, final)
        if isinstance(first, Pipe):
            return self.pipe(dot, first)
        if isinstance(first, Lit):
            return first.value
        if isinstance(first, Dot):
            return dot
        raise self.fail(first, "nil is not a command")

    def not_a_function(self, node: Node, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not _NOFINAL:
            raise self.fail(node, f"can't give argument to non-function {node.src}")

    def chain(
        self, dot: Any, recv: Any, node: Node, names: list[str], args: list[Node], final: Any
    ) -> Any:
        for name in names[:-1]:
            recv = self.field(dot, name, node, [], _NOFINAL, recv)
        return self.field(dot, names[-1], node, args, final, recv)

    def field(
        self, dot: Any, name: str, node: Node, args: list[Node], final: Any, recv: Any
    ) -> Any:
        if recv is MISSING:
            if self.missingkey == "error":
                raise self.fail(node, f"nil data; no entry for key {quote(name)}")
            return MISSING
        if recv is None:
            raise self.fail(node, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(recv, dict):
            val = recv.get(name, MISSING)
            if callable(val):  # a method, as docker's formatter contexts have: .Label "k"
                return self.method(dot, node, name, val, args[1:], final)
            if len(args) > 1 or final is not _NOFINAL:
                raise self.fail(node, f"{name} is not a method but has arguments")
            if val is not MISSING:
                return val
            if self.missingkey == "error":
                raise self.fail(node, f"map has no entry for key {quote(name)}")
            return None if self.missingkey == "zero" else MISSING
        raise self.fail(node, f"can't evaluate field {name} in type {go_type(recv)}")

    def method(self, dot: Any, node: Node, name: str, fn: Any, args: list[Node], final: Any) -> Any:
        argv = [self.arg(dot, a) for a in args] + ([] if final is _NOFINAL else [final])
        try:
            return fn(*argv)
        except TypeError:
            raise self.fail(node, f"wrong number of args for {name}: got {len(argv)}") from None
        except FuncError as exc:
            raise self.fail(node, f"error calling {name}: {exc}") from None

    def arg(self, dot: Any, node: Node) -> Any:
        if isinstance(node, Var):
            val = self.lookup(node, node.names[0])
            return val if len(node.names) == 1 else self.chain(dot, val, node, node.names[1:],
                                                               [node], _NOFINAL)  # fmt: skip
        if isinstance(node, Field):
            return self.chain(dot, dot, node, node.names, [node], _NOFINAL)
        if isinstance(node, Chain):
            return self.chain(dot, self.arg(dot, node.node), node, node.names, [node], _NOFINAL)
        if isinstance(node, Pipe):
            return self.pipe(dot, node)
        if isinstance(node, Ident):
            return self.function(dot, node, node.src, [node], _NOFINAL)
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Dot):
            return dot
        return None  # nil

    def function(self, dot: Any, at: Node, name: str, args: list[Node], final: Any) -> Any:
        """Call ``name``; ``at`` is the command (or lone identifier) errors point at."""
        node = at
        fn, params, variadic = self.funcs[name]
        nargs = len(args) - 1 + (final is not _NOFINAL)
        if nargs < len(params) or (variadic is None and nargs != len(params)):
            want = f"at least {len(params)}" if variadic else str(len(params))
            raise self.fail(node, f"wrong number of args for {name}: want {want} got {nargs}")
        if name in ("and", "or"):
            return self.and_or(dot, name, args[1:], final)
        argv = [self.arg(dot, a) for a in args[1:]]
        if final is not _NOFINAL:
            argv.append(final)
        if self.typed and argv and argv[0] is None and name in _NIL_COLLECTION:
            return _NIL_COLLECTION[name]  # a typed nil map or slice: len 0, index "", join ""
        conv = []
        for i, v in enumerate(argv):
            try:  # as Go's evalArg: a wrong type is reported at the argument
                conv.append(convert((params[i] if i < len(params) else variadic) or "any", v))
            except FuncError as exc:
                raise self.fail(args[i + 1] if i + 1 < len(args) else node, str(exc)) from None
        try:
            return fn(*conv, zero=self.zero) if fn is index_fn else fn(*conv)
        except FuncError as exc:
            raise self.fail(node, f"error calling {name}: {exc}") from None

    def and_or(self, dot: Any, name: str, args: list[Node], final: Any) -> Any:
        val: Any = None
        for a in args:
            val = self.arg(dot, a)
            if truth(val) == (name == "or"):
                return val
        if final is not _NOFINAL:
            val = final
        return val


class Template:
    """A parsed template; :meth:`execute` renders it against JSON-shaped data."""

    __slots__ = ("defs", "nodes", "text")

    def __init__(self, text: str, funcs: dict[str, Fn] | None = None) -> None:
        parser = Parser(text, funcs or FUNCS)
        self.text = text
        self.nodes = parser.parse()
        self.defs = parser.defs

    def execute(
        self,
        data: Any,
        *,
        missingkey: str = "default",
        typed: bool = False,
        funcs: dict[str, Fn] | None = None,
    ) -> str:
        """Go's ``Execute``; ``missingkey`` is Go's option: default, zero or error.

        ``typed`` reads the data as docker's typed structs rather than Go's
        ``map[string]interface{}``: ``null`` prints ``<nil>`` (a nil pointer),
        ``len``/``index``/``join`` of ``null`` are those of an empty map or slice,
        and ``index`` of an absent key is the zero of the map's value type.
        """
        ex = _Exec(self, data, missingkey, typed, funcs or FUNCS)
        try:
            ex.walk(data, self.nodes)
        except RecursionError:
            raise InvalidArgument("template: exceeded maximum template depth") from None
        return "".join(ex.out)
