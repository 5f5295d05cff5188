"""The connections of one endpoint: the ones it still serves, the ones to forget when it died.

A Service's DNAT choice lives in the conntrack entry of each connection: once the first
packet picked ``10.88.0.7:8080``, every later packet of that connection, retransmitted SYNs
included, goes there whatever the nft maps now say. So:

* when a pod is **drained** (deleted: scale-down, rollout), its connections are left alone:
  established ones finish on it while new ones go elsewhere. :func:`open_connections` tells
  the drain when none is left: it counts the pod's *accepted* TCP sockets (local port = a
  port it listens on; established, SYN received or close-wait) in the pod's own network
  namespace. Asking the pod rather than conntrack keeps the cost at the pod's socket
  count: the host's conntrack table holds every TIME_WAIT flow of the last two minutes
  (thousands under load), and pyroute2 parses ~6,000 entries a second;
* when a pod **died** (crash, OOM, SIGKILL), its address is gone: an entry still pointing
  there black-holes the client's retransmitted SYN, and the address may soon belong to
  another pod. :func:`forget_address` deletes the entries to it that never saw a reply (the
  SYNs in flight, unanswered UDP), so the next retransmit is a new connection and meets the
  current maps. The dump asks the kernel for unreplied entries only (status filter, Linux
  5.15; checked here too), and the address is matched here.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

from dockyard.errors import Unavailable
from dockyard.network._netns import in_netns

__all__ = ["forget_address", "open_connections"]

_IPS_SEEN_REPLY = 1 << 1
_LISTEN = "0A"
_OPEN = frozenset({"01", "03", "08"})  # ESTABLISHED, SYN_RECV, CLOSE_WAIT (/proc/net/tcp)


def _conntrack() -> Any:
    try:  # through importlib: pyroute2 ships no type information
        pyroute2 = importlib.import_module("pyroute2")
    except ImportError as e:  # pragma: no cover - pyroute2 is a dependency
        raise Unavailable(f"conntrack: {e}") from None
    try:
        return pyroute2.Conntrack()
    except OSError as e:
        raise Unavailable(f"conntrack: {e}") from None


def forget_address(address: str) -> int:
    """Delete the unreplied conntrack entries to (or DNAT'd to) ``address``, in the caller's
    network namespace; returns how many went. One that vanished meanwhile is no error."""
    ct = _conntrack()
    try:
        gone = 0
        attr_tuple = importlib.import_module("pyroute2.netlink.nfnetlink.nfctsocket").NFCTAttrTuple
        unreplied = list(ct.dump(status=0, status_mask=_IPS_SEEN_REPLY))  # then delete
        for msg in unreplied:
            family = msg["nfgen_family"]
            orig = attr_tuple.from_netlink(family, msg.get_attr("CTA_TUPLE_ORIG"))
            reply = attr_tuple.from_netlink(family, msg.get_attr("CTA_TUPLE_REPLY"))
            if address not in (orig.daddr, reply.saddr) or msg.get_attr("CTA_STATUS") & (
                _IPS_SEEN_REPLY
            ):
                continue  # (the status filter is the kernel's from 5.15 on: checked here too)
            with contextlib.suppress(Exception):  # ENOENT: expired between dump and delete
                ct.delete(orig)
                gone += 1
        return gone
    except Exception as e:  # OSError, or pyroute2's NetlinkError (a kernel refusing the filter)
        raise Unavailable(f"conntrack forget {address}: {e}") from None
    finally:
        ct.close()


def _accepted(table: str) -> int:
    rows = [line.split() for line in table.splitlines()[1:]]
    rows = [r for r in rows if len(r) > 3]
    listening = {r[1].rsplit(":", 1)[1] for r in rows if r[3] == _LISTEN}
    return sum(1 for r in rows if r[3] in _OPEN and r[1].rsplit(":", 1)[1] in listening)


def open_connections(netns: str) -> int:
    """How many TCP connections the namespace ``netns`` (a path) has accepted and not yet
    closed: sockets established, SYN received or close-wait on a port something listens on
    (IPv4 and IPv6). Its own outgoing connections do not count."""

    def read() -> int:
        n = 0
        for name in ("tcp", "tcp6"):
            with (
                contextlib.suppress(FileNotFoundError),
                open(f"/proc/thread-self/net/{name}") as f,
            ):
                n += _accepted(f.read())
        return n

    try:
        return in_netns(netns, read)
    except OSError as e:
        raise Unavailable(f"connections of {netns}: {e}") from None
