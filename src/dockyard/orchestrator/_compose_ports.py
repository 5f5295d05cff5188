"""Compose ``ports`` and ``expose`` syntax.

Short form: ``[HOST_IP:][HOST_PORT[-RANGE]:]CONTAINER_PORT[-RANGE][/PROTOCOL]``
(``"8080:80"``, ``"127.0.0.1:5000:5000/udp"``, ``"9090-9091:8080-8081"``, ``3000``);
a bracketed IPv6 host address is allowed. Long form: ``{target, published, host_ip,
protocol, mode, name, app_protocol}``.
"""

from __future__ import annotations

import re
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.records import record

__all__ = ["PortBinding", "parse_expose", "parse_ports"]


@record
class PortBinding:
    """A container port, and the host port it is published on (None: not published)."""

    target: int
    published: int | None = None
    host_ip: str | None = None
    protocol: str = "TCP"


def _range(text: str, where: str) -> list[int]:
    m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", text)
    if m is None:
        raise InvalidArgument(f"{where}: invalid port {text!r}")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) else lo
    if not 0 <= lo <= hi <= 65535:
        raise InvalidArgument(f"{where}: invalid port range {text!r}")
    return list(range(lo, hi + 1))


def _short(text: str, where: str) -> list[PortBinding]:
    spec, _, proto = text.partition("/")
    protocol = (proto or "tcp").upper()
    host_ip = None
    m = re.match(r"\[([0-9a-fA-F:.]+)\]:(.*)\Z", spec)
    if m:
        host_ip, spec = m.group(1), m.group(2)
    parts = spec.split(":")
    if len(parts) == 3:
        host_ip, host, container = parts[0] or None, parts[1], parts[2]
    elif len(parts) == 2:
        host, container = parts
    elif len(parts) == 1:
        host, container = "", parts[0]
    else:
        raise InvalidArgument(f"{where}: invalid port {text!r}")
    targets = _range(container, where)
    if not host:
        return [PortBinding(t, None, host_ip, protocol) for t in targets]
    hosts = _range(host, where)
    if len(hosts) == 1 and len(targets) > 1:
        raise InvalidArgument(f"{where}: cannot publish a range of ports on one host port")
    if len(hosts) != len(targets) and len(hosts) != 1:
        raise InvalidArgument(f"{where}: port ranges do not match: {text!r}")
    return [PortBinding(t, h, host_ip, protocol) for h, t in zip(hosts, targets, strict=False)]


def parse_ports(entries: list[Any], where: str) -> tuple[PortBinding, ...]:
    out: list[PortBinding] = []
    for i, raw in enumerate(entries):
        w = f"{where}[{i}]"
        if isinstance(raw, dict):
            if "target" not in raw:
                raise InvalidArgument(f"{w}: target is required")
            published = raw.get("published")
            host = _range(str(published), w)[0] if published not in (None, "") else None
            out.append(
                PortBinding(
                    int(raw["target"]),
                    host,
                    raw.get("host_ip"),
                    str(raw.get("protocol") or "tcp").upper(),
                )
            )
        else:
            out.extend(_short(str(raw), w))
    return tuple(out)


def parse_expose(entries: list[Any], where: str) -> tuple[tuple[int, str], ...]:
    out: list[tuple[int, str]] = []
    for i, raw in enumerate(entries):
        spec, _, proto = str(raw).partition("/")
        out.extend((p, (proto or "tcp").upper()) for p in _range(spec, f"{where}[{i}]"))
    return tuple(out)
