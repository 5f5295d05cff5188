"""Field errors and the checks every kind shares: names, labels, ports, selectors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.records import record

from ._codec import render_value
from .objects import ObjectMeta
from .selectors import OPERATORS, LabelSelector

__all__ = [
    "CONFIG_KEY",
    "GROUPS",
    "MSG_CONFIG_KEY",
    "OPERATORS",
    "Errs",
    "FieldError",
    "forbidden",
    "full",
    "int_or_name_port",
    "invalid",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "labels",
    "meta",
    "dns_name",
    "non_negative",
    "port_name",
    "port_number",
    "protocol",
    "required",
    "check_selector",
    "unsupported",
]

GROUPS = {
    "Deployment": "Deployment.apps",
    "ReplicaSet": "ReplicaSet.apps",
    "HorizontalPodAutoscaler": "HorizontalPodAutoscaler.autoscaling",
    "NetworkPolicy": "NetworkPolicy.networking.k8s.io",
}


@record
class FieldError:
    """One problem at one field path (apimachinery ``field.Error``)."""

    path: str
    kind: str  # Required, Invalid, Unsupported, Forbidden, Duplicate, NotFound
    value: Any = None
    detail: str = ""

    def __str__(self) -> str:
        if self.kind == "Required":
            return f"{self.path}: Required value" + (f": {self.detail}" if self.detail else "")
        if self.kind == "Forbidden":
            return f"{self.path}: Forbidden: {self.detail}"
        if self.kind == "Duplicate":
            return f"{self.path}: Duplicate value: {render_value(self.value)}"
        if self.kind == "NotFound":
            return f"{self.path}: Not found: {render_value(self.value)}"
        if self.kind == "Unsupported":
            return (
                f"{self.path}: Unsupported value: {render_value(self.value)}: "
                f"supported values: {self.detail}"
            )
        return f"{self.path}: Invalid value: {render_value(self.value)}: {self.detail}"


Errs = list[FieldError]


def required(errs: Errs, path: str, detail: str = "") -> None:
    errs.append(FieldError(path, "Required", None, detail))


def invalid(errs: Errs, path: str, value: object, detail: str) -> None:
    errs.append(FieldError(path, "Invalid", value, detail))


def unsupported(errs: Errs, path: str, value: object, allowed: Iterable[str]) -> None:
    errs.append(FieldError(path, "Unsupported", value, ", ".join(f'"{a}"' for a in allowed)))


def forbidden(errs: Errs, path: str, detail: str) -> None:
    errs.append(FieldError(path, "Forbidden", None, detail))


# -- names -----------------------------------------------------------------------------

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + r"(\." + _LABEL + ")*"
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QNAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QNAME + ")?"
CONFIG_KEY = "[-._a-zA-Z0-9]+"
_IANA = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?\Z")

MSG_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    f"used for validation is '{_SUBDOMAIN}')"
)
MSG_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    f"used for validation is '{_LABEL}')"
)
MSG_1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    f"'abc-123', regex used for validation is '{_DNS1035}')"
)
MSG_QNAME = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    f"used for validation is '{_QNAME}')"
)
MSG_LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    f"'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE}')"
)
MSG_CONFIG_KEY = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    f"'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '{CONFIG_KEY}')"
)


def full(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def is_dns1123_label(name: str) -> bool:
    return len(name) <= 63 and full(_LABEL, name)


def is_dns1123_subdomain(name: str) -> bool:
    return len(name) <= 253 and full(_SUBDOMAIN, name)


def is_dns1035_label(name: str) -> bool:
    return len(name) <= 63 and full(_DNS1035, name)


def dns_name(errs: Errs, path: str, name: str, style: str) -> None:
    ok, msg, limit = {
        "subdomain": (is_dns1123_subdomain, MSG_SUBDOMAIN, 253),
        "label": (is_dns1123_label, MSG_LABEL, 63),
        "dns1035": (is_dns1035_label, MSG_1035, 63),
    }[style]
    if len(name) > limit:
        invalid(errs, path, name, f"must be no more than {limit} characters")
    elif not ok(name):
        invalid(errs, path, name, msg)


def qualified_name(errs: Errs, path: str, key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or not is_dns1123_subdomain(prefix)):
        invalid(errs, path, key, "prefix part " + MSG_SUBDOMAIN)
    elif not name:
        invalid(errs, path, key, "name part must be non-empty")
    elif len(name) > 63:
        invalid(errs, path, key, "name part must be no more than 63 characters")
    elif not full(_QNAME, name):
        invalid(errs, path, key, MSG_QNAME)


def labels(errs: Errs, path: str, labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        qualified_name(errs, path, key)
        if len(value) > 63:
            invalid(errs, path, value, "must be no more than 63 characters")
        elif not full(_LABEL_VALUE, value):
            invalid(errs, path, value, MSG_LABEL_VALUE)


def meta(errs: Errs, meta: ObjectMeta, style: str, namespaced: bool = True) -> None:
    if not meta.name and not meta.generate_name:
        required(errs, "metadata.name", "name or generateName is required")
    elif meta.name:
        dns_name(errs, "metadata.name", meta.name, style)
    if meta.namespace is not None:
        if not namespaced:
            forbidden(errs, "metadata.namespace", "not allowed on this type")
        else:
            dns_name(errs, "metadata.namespace", meta.namespace, "label")
    labels(errs, "metadata.labels", meta.labels)
    for key in meta.annotations:
        qualified_name(errs, "metadata.annotations", key)


def non_negative(errs: Errs, path: str, value: int | None) -> None:
    if value is not None and value < 0:
        invalid(errs, path, value, "must be greater than or equal to 0")


def port_number(errs: Errs, path: str, port: int) -> None:
    if not 1 <= port <= 65535:
        invalid(errs, path, port, "must be between 1 and 65535, inclusive")


def port_name(errs: Errs, path: str, name: str) -> None:
    if len(name) > 15:
        invalid(errs, path, name, "must be no more than 15 characters")
    elif not _IANA.match(name) or "--" in name:
        invalid(
            errs,
            path,
            name,
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        )
    elif not re.search("[a-z]", name):
        invalid(errs, path, name, "must contain at least one letter (a-z)")


def int_or_name_port(errs: Errs, path: str, port: int | str) -> None:
    if isinstance(port, int):
        port_number(errs, path, port)
    else:
        port_name(errs, path, port)


def protocol(errs: Errs, path: str, protocol: str) -> None:
    if protocol not in ("TCP", "UDP", "SCTP"):
        unsupported(errs, path, protocol, ("SCTP", "TCP", "UDP"))


# -- selectors -------------------------------------------------------------------------


def check_selector(errs: Errs, path: str, sel: LabelSelector) -> None:
    labels(errs, f"{path}.matchLabels", sel.match_labels)
    for i, req in enumerate(sel.match_expressions):
        p = f"{path}.matchExpressions[{i}]"
        qualified_name(errs, f"{p}.key", req.key)
        if req.operator not in OPERATORS:
            unsupported(errs, f"{p}.operator", req.operator, OPERATORS)
        elif req.operator in ("In", "NotIn") and not req.values:
            required(errs, f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        elif req.operator in ("Exists", "DoesNotExist") and req.values:
            forbidden(
                errs,
                f"{p}.values",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )
