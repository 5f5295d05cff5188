"""Cluster DNS, as CoreDNS serves it in Kubernetes: the records and a pod's resolv.conf.

Pure functions; the Services controller publishes :func:`cluster_records` into the cluster
DNS responder (a :class:`~dockyard.network.DnsResponder` on the default bridge's gateway,
authoritative for ``cluster.local``) whenever it reconciles, and the pod backend writes
:func:`pod_resolv` into each pod's resolv.conf. ``docs/network.md`` ("Cluster DNS").

Records (``<ns>`` the namespace, ``<d>`` the cluster domain):

* ``<svc>.<ns>.svc.<d>`` (and ``<svc>.<ns>.svc``, ``<svc>.<ns>``, plus ``<svc>`` in the
  ``default`` namespace) → the ClusterIP; for a headless Service (``clusterIP: None``) →
  the addresses of its ready endpoints (none ready: no record, NXDOMAIN);
* ``_<port>._<proto>.<svc>.<ns>.svc.<d>`` SRV for every named port → ``<svc>.<ns>.svc.<d>``
  (headless: one per endpoint, target ``<a-b-c-d>.<svc>.<ns>.svc.<d>``, which has an A
  record — ``<hostname>.<svc>…`` for a pod whose ``hostname`` and ``subdomain: <svc>`` are
  set);
* ``<a-b-c-d>.<ns>.pod.<d>`` → ``a.b.c.d`` for any four numbers up to 255 and any namespace
  (:func:`pod_address`, synthesized: the specification's deprecated but required form);
* PTR ``<d>.<c>.<b>.<a>.in-addr.arpa`` → ``<svc>.<ns>.svc.<d>`` for every ClusterIP, and →
  ``<hostname>.<svc>.<ns>.svc.<d>`` for every ready endpoint of a headless Service;
* CNAME ``<svc>.<ns>.svc.<d>`` (and the shorter names) → ``externalName`` of an ExternalName
  Service (the client follows it);
* TXT ``dns-version.<d>`` → the schema version served (:data:`SCHEMA_VERSION`).

These are the records of the Kubernetes DNS specification (kubernetes/dns,
``docs/specification.md``, schema 1.0.1); ``tests/conformance/test_dns_spec.py`` checks each
section against this module and a live responder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from dockyard.network import (
    QTYPE_CNAME,
    QTYPE_PTR,
    RData,
    ResolvConf,
    Srv,
    name_rdata,
    txt_rdata,
)

from .backend import ObservedPod
from .objects import Pod, Service

__all__ = [
    "CLUSTER_DOMAIN",
    "SCHEMA_VERSION",
    "ClusterRecords",
    "cluster_data",
    "cluster_records",
    "dashed",
    "endpoint_name",
    "pod_address",
    "pod_resolv",
    "reverse_name",
    "search_path",
    "service_names",
]

CLUSTER_DOMAIN = "cluster.local"
SCHEMA_VERSION = "1.0.1"
ClusterRecords = tuple[dict[str, list[str]], dict[str, list[Srv]]]


def dashed(address: str) -> str:
    """``10.1.2.3`` → ``10-1-2-3`` (the label of a pod or headless endpoint record)."""
    return address.replace(".", "-").replace(":", "-")


def service_names(name: str, namespace: str, domain: str = CLUSTER_DOMAIN) -> list[str]:
    """The names of Service ``name``: the fully qualified one first."""
    out = [f"{name}.{namespace}.svc.{domain}", f"{name}.{namespace}.svc", f"{name}.{namespace}"]
    return out + ([name] if namespace == "default" else [])


def _endpoints(svc: Service, pods: Sequence[ObservedPod]) -> list[ObservedPod]:
    from .controllers.services import endpoints_of

    return endpoints_of(svc, pods)


def endpoint_name(p: ObservedPod, svc: Service) -> str:
    """The label of a headless Service's endpoint: the pod's ``hostname`` when its
    ``subdomain`` names the Service, else its dashed address."""
    spec = p.pod.spec
    if spec.hostname and spec.subdomain == svc.metadata.name:
        return spec.hostname
    return dashed(str(p.pod_ip))


def cluster_records(
    services: Iterable[Service], pods: Iterable[ObservedPod], domain: str = CLUSTER_DOMAIN
) -> ClusterRecords:
    """(A records, SRV records) of ``services`` and ``pods`` (see the module docstring)."""
    pods = list(pods)
    a: dict[str, list[str]] = {}
    srv: dict[str, list[Srv]] = {}
    for p in pods:
        if p.pod_ip and not p.terminating:
            a.setdefault(f"{dashed(p.pod_ip)}.{p.namespace}.pod.{domain}", []).append(p.pod_ip)
    for svc in services:
        if svc.spec.type == "ExternalName":
            continue
        ns = svc.metadata.namespace or "default"
        names = service_names(svc.metadata.name, ns, domain)
        fqdn = names[0]
        vip = svc.spec.cluster_ip or ""
        if vip == "None":
            ready = [p for p in _endpoints(svc, pods) if p.pod_ip]
            addrs = sorted({str(p.pod_ip) for p in ready})
            for p in ready:
                a.setdefault(f"{endpoint_name(p, svc)}.{fqdn}", []).append(str(p.pod_ip))
        else:
            ready = []
            addrs = [vip] if vip else []
        if not addrs:
            continue
        for n in names:
            a[n] = list(addrs)
        for sp in svc.spec.ports:
            if not sp.name:
                continue
            key = f"_{sp.name}._{sp.protocol.lower()}.{fqdn}"
            if vip == "None":
                from .controllers.services import target_number

                records = []
                for p in ready:
                    port = target_number(p.pod, sp.target_port, sp.port, sp.protocol)
                    if port is not None and p.pod_ip:
                        records.append(Srv(0, 100, port, f"{endpoint_name(p, svc)}.{fqdn}"))
                if records:
                    srv[key] = sorted(records, key=lambda s: s.target)
            else:
                srv[key] = [Srv(0, 100, sp.port, fqdn)]
    return a, srv


def reverse_name(address: str) -> str:
    """``10.96.0.1`` → ``1.0.96.10.in-addr.arpa`` (the owner of its PTR record)."""
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


def cluster_data(
    services: Iterable[Service], pods: Iterable[ObservedPod], domain: str = CLUSTER_DOMAIN
) -> dict[str, list[RData]]:
    """The zone's records of other types than A and SRV: PTR, CNAME and the schema's TXT
    (see the module docstring)."""
    pods = list(pods)
    out: dict[str, list[RData]] = {f"dns-version.{domain}": [txt_rdata(SCHEMA_VERSION)]}
    for svc in services:
        ns = svc.metadata.namespace or "default"
        names = service_names(svc.metadata.name, ns, domain)
        fqdn = names[0]
        if svc.spec.type == "ExternalName":
            if svc.spec.external_name:
                for n in names:
                    out[n] = [name_rdata(QTYPE_CNAME, svc.spec.external_name)]
            continue
        vip = svc.spec.cluster_ip or ""
        if vip == "None":
            for p in _endpoints(svc, pods):
                if p.pod_ip:
                    target = f"{endpoint_name(p, svc)}.{fqdn}"
                    out.setdefault(reverse_name(p.pod_ip), []).append(name_rdata(QTYPE_PTR, target))
        elif vip:
            out.setdefault(reverse_name(vip), []).append(name_rdata(QTYPE_PTR, fqdn))
    return out


def pod_address(name: str, domain: str = CLUSTER_DOMAIN) -> list[str] | None:
    """The address of ``<a-b-c-d>.<ns>.pod.<domain>`` (any numbers 0-255, any namespace);
    None for any other name."""
    m = re.fullmatch(
        r"(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\.pod\."
        + re.escape(domain),
        name.lower().rstrip("."),
    )
    if m is None or any(int(m.group(i)) > 255 for i in range(1, 5)):
        return None
    return [".".join(str(int(m.group(i))) for i in range(1, 5))]


def search_path(namespace: str, domain: str = CLUSTER_DOMAIN) -> list[str]:
    return [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]


def _option(name: str, value: str | None) -> str:
    return f"{name}:{value}" if value not in (None, "") else name


def pod_resolv(
    pod: Pod, cluster_dns: str, host: ResolvConf, domain: str = CLUSTER_DOMAIN
) -> ResolvConf | None:
    """The resolv.conf of ``pod`` as the kubelet writes it; None: the engine's default (the
    host's servers, search and options).

    * ``ClusterFirst`` (the default): ``nameserver <cluster_dns>``, the namespace's search
      path then the host's search domains, ``options ndots:5`` — the host's when there is
      no cluster DNS or the pod uses the host's network (``ClusterFirstWithHostNet`` asks
      for the cluster's there too);
    * ``Default``: the host's;
    * ``None``: ``dnsConfig`` alone.

    ``dnsConfig`` is merged into the first two: its nameservers and searches appended (no
    duplicates), its options replace those of the same name.
    """
    spec = pod.spec
    ns = pod.metadata.namespace or "default"
    policy = spec.dns_policy or "ClusterFirst"
    cluster = policy == "ClusterFirstWithHostNet" or (
        policy == "ClusterFirst" and not spec.host_network
    )
    if policy == "None":
        base = ResolvConf()
    elif cluster and cluster_dns:
        search = search_path(ns, domain)
        search += [s for s in host.search if s not in search]  # the kubelet appends them
        base = ResolvConf((cluster_dns,), tuple(search), ("ndots:5",))
    elif spec.dns_config is None:
        return None
    else:
        base = host
    cfg = spec.dns_config
    if cfg is None:
        return base
    servers = list(base.nameservers)
    servers += [s for s in cfg.nameservers if s not in servers]
    search = list(base.search)
    search += [s for s in cfg.searches if s not in search]
    extra = {o.name: _option(o.name, o.value) for o in cfg.options if o.name}
    options = [o for o in base.options if o.split(":", 1)[0] not in extra]
    return ResolvConf(tuple(servers), tuple(search), tuple(options + list(extra.values())))
