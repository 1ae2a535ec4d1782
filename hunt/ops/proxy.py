"""A TCP proxy whose link can be cut and restored: a network partition on demand.

The fault-injection suite puts it between the workers and a broker whose
advertised listener *is* the proxy (``LocalKafka(advertised_port=...)``), so
every client connection, metadata-discovered ones included, runs through it.
:meth:`TcpProxy.cut` makes the broker unreachable the way a dead link does:
open connections are aborted and new ones are accepted but never answered
(``blackhole``) or reset at once (``reset``); :meth:`TcpProxy.restore` lets
traffic through again. The proxy runs its own event loop on a daemon thread,
so a synchronous test drives it without sharing a loop with anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, Literal

__all__ = ["CutMode", "TcpProxy"]

CutMode = Literal["blackhole", "reset"]

_CHUNK = 64 * 1024  # one socket read; Kafka fetch responses arrive in many of these anyway.
_START_TIMEOUT_S = 5.0  # binding a loopback port is instant; longer means something is wrong.


class TcpProxy:
    """Forwards ``listen_host:listen_port`` to ``target_host:target_port`` until cut."""

    def __init__(
        self, listen_host: str, listen_port: int, target_host: str, target_port: int
    ) -> None:
        self.listen = (listen_host, listen_port)
        self.target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tcp-proxy", daemon=True
        )
        self._server: asyncio.base_events.Server | None = None
        self._cut: CutMode | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0  # accepted since start, for reports

    # -- control, from any thread ----------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start_server())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_START_TIMEOUT_S)
        self._loop.close()

    def cut(self, mode: CutMode = "blackhole") -> None:
        """Abort every open connection; from now on new ones get no service."""
        self._call(self._set_cut(mode))

    def restore(self) -> None:
        """Forward again; connections held in the blackhole are closed so clients retry."""
        self._call(self._set_cut(None))

    @property
    def is_cut(self) -> bool:
        return self._cut is not None

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(_START_TIMEOUT_S)

    # -- the loop side -------------------------------------------------------------------

    async def _start_server(self) -> None:
        self._server = await asyncio.start_server(self._accept, *self.listen)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        self._abort_all()

    async def _set_cut(self, mode: CutMode | None) -> None:
        self._cut = mode
        self._abort_all()

    def _abort_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._cut == "reset":
            client_w.transport.abort()
            return
        self._writers.add(client_w)
        if self._cut == "blackhole":
            return  # held open, never answered, aborted by restore()
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(client_w)
            client_w.transport.abort()
            return
        self._writers.add(upstream_w)
        pair = (client_w, upstream_w)
        await asyncio.gather(
            self._pipe(client_r, upstream_w, pair), self._pipe(upstream_r, client_w, pair)
        )

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while self._cut is None:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in pair:  # one side gone: close both, as a real connection would end
                self._writers.discard(w)
                with contextlib.suppress(Exception):
                    w.transport.abort()
