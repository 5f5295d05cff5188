"""Connection-tracking entries of one endpoint address, through netlink (pyroute2).

A Service's DNAT choice lives in the conntrack entry of each connection: once the first
packet picked ``10.88.0.7:8080``, every later packet of that connection, retransmitted SYNs
included, goes there whatever the nft maps now say. So:

* when a pod is **drained** (deleted: scale-down, rollout), its entries are left alone:
  established connections finish on it while new ones go elsewhere.
  :func:`live_connections` tells the drain when none are left;
* when a pod **died** (crash, OOM, SIGKILL), its address is gone (the netns and veth with
  it): an entry still pointing there black-holes the client's retransmits, and the address
  may soon belong to another pod. :func:`forget_address` deletes every entry whose original
  destination or reply source is the address, so the next retransmitted SYN is a new
  connection and meets the current maps.

Both work in the caller's network namespace (the daemon's, where the DNAT happens). The
kernel's own filters for dumps are not used (``tuple_reply`` filtering was broken in
kernels before 6.x): the table is dumped and matched here.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

from dockyard.errors import Unavailable

__all__ = ["forget_address", "live_connections"]

_CLOSING = frozenset({"FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE"})


def _entries(ct: Any, address: str) -> list[Any]:
    return [
        e
        for e in ct.dump_entries()
        if address in (e.tuple_orig.daddr, e.tuple_reply.saddr)
    ]


def _open() -> Any:
    try:  # through importlib: pyroute2 ships no type information
        pyroute2 = importlib.import_module("pyroute2")
    except ImportError as e:  # pragma: no cover - pyroute2 is a dependency
        raise Unavailable(f"conntrack: {e}") from None
    try:
        return pyroute2.Conntrack()
    except OSError as e:
        raise Unavailable(f"conntrack: {e}") from None


def forget_address(address: str) -> int:
    """Delete the conntrack entries to or DNAT'd to ``address``; returns how many went.

    An entry that vanished meanwhile (the connection closed) is not an error."""
    ct = _open()
    try:
        gone = 0
        for e in _entries(ct, address):
            with contextlib.suppress(Exception):  # ENOENT: expired between dump and delete
                ct.delete(e)
                gone += 1
        return gone
    except OSError as e:
        raise Unavailable(f"conntrack forget {address}: {e}") from None
    finally:
        ct.close()


def live_connections(address: str) -> int:
    """How many tracked TCP connections to ``address`` are not closing yet (SYN sent or
    received, established). UDP flows are not counted: they have no end to wait for."""
    ct = _open()
    try:
        n = 0
        for e in _entries(ct, address):
            info = e.protoinfo
            if info is not None and info.state_name() not in _CLOSING:
                n += 1
        return n
    except OSError as e:
        raise Unavailable(f"conntrack list {address}: {e}") from None
    finally:
        ct.close()
