"""systemd's Manager over the system D-Bus, for the systemd cgroup driver.

jeepney (pure Python, no libdbus, no GLib loop) speaks the protocol. A unit start is
asynchronous in systemd: ``StartTransientUnit`` returns a job path, and the unit is up when
the ``JobRemoved`` signal names that job with result ``done``. As go-systemd (runc) does, the
client calls ``Subscribe`` (systemd sends job signals only while someone is subscribed) and
adds a match for ``JobRemoved`` *before* the start, so the signal cannot be missed.
"""

from __future__ import annotations

from typing import Any

from dockyard.errors import Unavailable

__all__ = ["SystemdBus"]

_DEST = "org.freedesktop.systemd1"
_PATH = "/org/freedesktop/systemd1"
_IFACE = "org.freedesktop.systemd1.Manager"
_TIMEOUT = 30.0


class SystemdBus:
    """A connection to the system bus, opened on first use and kept.

    One per process (:func:`shared`): a connection per container manager was a socket left
    to the garbage collector (one per container in the daemon), and each start added
    another match rule, which dbus-daemon limits per connection. Calls take a lock: the
    blocking connection is not for two threads at once."""

    def __init__(self, timeout: float = _TIMEOUT) -> None:
        import threading

        self._conn: Any = None
        self._timeout = timeout
        self._lock = threading.RLock()
        self._subscribed = False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._subscribed = False

    def _connection(self) -> Any:
        if self._conn is None:
            from jeepney.io.blocking import open_dbus_connection

            try:
                self._conn = open_dbus_connection(bus="SYSTEM")
            except (OSError, ValueError) as e:
                raise Unavailable(f"connect to systemd over the system bus: {e}") from None
        return self._conn

    def _call(self, member: str, signature: str, body: tuple[Any, ...]) -> tuple[Any, ...]:
        from jeepney import DBusAddress, MessageType, new_method_call

        addr = DBusAddress(_PATH, bus_name=_DEST, interface=_IFACE)
        msg = new_method_call(addr, member, signature, body)
        try:
            with self._lock:
                reply = self._connection().send_and_get_reply(msg, timeout=self._timeout)
        except (OSError, TimeoutError) as e:
            if not isinstance(e, TimeoutError):
                self.close()  # a broken connection (systemd restarted): the next call reconnects
            raise Unavailable(f"systemd {member}: {e}") from None
        if reply.header.message_type == MessageType.error:
            from jeepney import HeaderFields

            name = reply.header.fields.get(HeaderFields.error_name, "error")
            text = reply.body[0] if reply.body else ""
            raise Unavailable(f"systemd {member}: {name}: {text}")
        return tuple(reply.body)

    def start_scope(self, unit: str, properties: list[tuple[str, tuple[str, Any]]]) -> None:
        """Start the transient scope and wait until its job is done."""
        from jeepney import MatchRule, message_bus
        from jeepney.io.blocking import Proxy

        with self._lock:
            conn = self._connection()
            rule = MatchRule(type="signal", interface=_IFACE, member="JobRemoved", path=_PATH)
            if not self._subscribed:  # once per connection
                try:
                    Proxy(message_bus, conn).AddMatch(rule)
                except OSError as e:
                    raise Unavailable(f"systemd AddMatch: {e}") from None
                self._call("Subscribe", "", ())
                self._subscribed = True
            self._start_and_wait(conn, rule, unit, properties)

    def _start_and_wait(
        self, conn: Any, rule: Any, unit: str, properties: list[tuple[str, tuple[str, Any]]]
    ) -> None:
        with conn.filter(rule, bufsize=64) as queue:
            (job,) = self._call("StartTransientUnit", "ssa(sv)a(sa(sv))",
                                (unit, "fail", properties, []))  # fmt: skip
            import time

            deadline = time.monotonic() + self._timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unavailable(f"start unit {unit}: no answer from systemd")
                try:
                    sig = conn.recv_until_filtered(queue, timeout=left)
                except TimeoutError:
                    raise Unavailable(f"start unit {unit}: no answer from systemd") from None
                _id, path, name, result = sig.body
                if path == job or name == unit:
                    if result != "done":
                        raise Unavailable(f"start unit {unit}: job {result}")
                    return

    def set_properties(self, unit: str, properties: list[tuple[str, tuple[str, Any]]]) -> None:
        if properties:
            self._call("SetUnitProperties", "sba(sv)", (unit, True, properties))

    def stop_unit(self, unit: str) -> None:
        self._call("StopUnit", "ss", (unit, "replace"))


_SHARED: list[SystemdBus] = []


def shared() -> SystemdBus:
    """The process's connection to systemd (made on first use)."""
    if not _SHARED:
        _SHARED.append(SystemdBus())
    return _SHARED[0]
