"""``logs --details``: the extra attributes docker's json-file driver attaches to each
line (pure).

``--log-opt labels=a,b`` names container labels, ``labels-regex=RE`` labels whose key
matches, ``env=X,Y`` environment variables, ``env-regex=RE`` variables whose name matches
(docker's ``loginfo.ExtraAttributes``). Those present in the container become attributes;
``logs --details`` writes them before each line as ``k=v,k2=v2`` (sorted by key, both
query-escaped), then a space: a container without any gives lines that start with one
space, as docker's.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["OPTS", "check_opts", "details_prefix", "extra_attributes"]

OPTS = ("labels", "labels-regex", "env", "env-regex")


def check_opts(opts: Mapping[str, str]) -> None:
    """Refuse a regex that does not compile (at create, not at the first ``logs``)."""
    for key in ("labels-regex", "env-regex"):
        if opts.get(key):
            try:
                re.compile(opts[key])
            except re.error as exc:
                raise InvalidArgument(f'invalid --log-opt "{key}={opts[key]}": {exc}') from None


def extra_attributes(
    opts: Mapping[str, str], labels: Mapping[str, str], env: list[str]
) -> dict[str, str]:
    """The attributes ``opts`` selects from the container's ``labels`` and ``env``."""
    out: dict[str, str] = {}
    for key in (opts.get("labels") or "").split(","):
        if key and key in labels:
            out[key] = labels[key]
    if opts.get("labels-regex"):
        rx = re.compile(opts["labels-regex"])
        out.update({k: v for k, v in labels.items() if rx.search(k)})
    variables = dict(e.partition("=")[::2] for e in env)
    for key in (opts.get("env") or "").split(","):
        if key and key in variables:
            out[key] = variables[key]
    if opts.get("env-regex"):
        rx = re.compile(opts["env-regex"])
        out.update({k: v for k, v in variables.items() if rx.search(k)})
    return out


def details_prefix(attrs: Mapping[str, str]) -> bytes:
    """``k=v,k2=v2 `` (docker's ``attrsByteSlice`` and the space after it)."""
    pairs = ",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted(attrs.items()))
    return pairs.encode() + b" "
