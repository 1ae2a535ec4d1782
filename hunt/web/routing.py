"""Which worker answers for a product, and how a request gets there.

Faust's ``table_route`` has two well-known failure modes: it compares the
owner's URL with a hostname-rewritten one and so answers from a worker that
does not hold the key (returning the table default instead of a 404), and it
answers from whatever is local while partitions move. Here:

* the owner of a product is the worker whose *active* assignment holds the
  changelog partition of the product's home partition, read from the
  assignment metadata Faust's assignor shares with every member;
* a worker answers locally only when that partition is active here, recovery
  is complete and no rebalance is in progress (a standby copy may be stale);
* otherwise it forwards once, marking the request with :data:`FORWARDED`; a
  worker that receives a forwarded request it cannot answer says 503 with
  ``Retry-After`` instead of forwarding again, so two workers with different
  views of an in-flight rebalance never bounce a request between them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from faust.types import TP
from yarl import URL

from hunt.streaming.monitor import active_partitions

if TYPE_CHECKING:
    from hunt.streaming.app import Hunt

__all__ = ["FORWARDED", "Cluster", "PeerError", "Reply", "check_coverage"]

log = logging.getLogger(__name__)

FORWARDED = "X-Hunt-Forwarded-By"  # loop guard: set on every worker-to-worker request
_PEER_TIMEOUT_S = 10.0  # a peer slower than this is treated as unavailable (503).


class PeerError(RuntimeError):
    """A peer could not answer (unreachable, timed out, or answered 5xx)."""


@dataclass(frozen=True)
class Reply:
    """A peer's answer, passed through to the client unchanged."""

    status: int
    body: bytes
    content_type: str


class Cluster:
    """The worker's view of the group: who owns what, and how to reach them."""

    def __init__(self, hunt: Hunt) -> None:
        self.hunt = hunt
        self.app = hunt.app
        self.changelog = hunt.topics.changelog
        self.partitions = hunt.settings.partitions
        self.self_url = _norm(hunt.settings.web_url)
        self.token = hunt.settings.web_token

    # -- ownership -------------------------------------------------------------------

    def stable(self) -> bool:
        """True when local tables are current: assigned, recovered, not rebalancing."""
        app = self.app
        return (
            not app.rebalancing and not app.in_recovery and app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        )

    def serving_partitions(self) -> set[int]:
        """Home partitions this worker may answer for right now (empty while unstable)."""
        return active_partitions(self.hunt) if self.stable() else set()

    def can_serve(self, partition: int) -> bool:
        return self.stable() and TP(self.changelog, partition) in self._actives()

    def owner(self, partition: int) -> str | None:
        """URL of the worker whose active assignment holds ``partition``, if known."""
        for url, topics in self._distribution().items():
            if partition in topics.get(self.changelog, ()):
                return _norm(url)
        return None

    def members(self) -> list[str]:
        """Every worker of the current generation (by canonical URL), this one included."""
        urls = {_norm(url) for url in self._distribution()}
        if not urls and self.stable():
            urls.add(self.self_url)
        return sorted(urls)

    def is_self(self, url: str) -> bool:
        return _norm(url) == self.self_url

    def _actives(self) -> set[TP]:
        try:
            return set(self.app.assignor.assigned_actives())
        except Exception:
            return set()

    def _distribution(self) -> Mapping[str, Mapping[str, list[int]]]:
        try:
            return self.app.assignor.tables_metadata()
        except Exception:
            return {}

    # -- talking to peers ------------------------------------------------------------

    async def fetch(self, url: str, path_qs: str) -> Reply:
        """GET ``path_qs`` from the worker at ``url``, marked as forwarded."""
        headers = {FORWARDED: self.self_url}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        timeout = aiohttp.ClientTimeout(total=_PEER_TIMEOUT_S)
        try:
            async with self.app.http_client.get(
                url.rstrip("/") + path_qs, headers=headers, timeout=timeout
            ) as response:
                body = await response.read()
                reply = Reply(response.status, body, response.content_type)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PeerError(f"{url}: {exc!r}") from exc
        if reply.status >= 500:
            raise PeerError(f"{url}{path_qs}: HTTP {reply.status}")
        return reply

    async def gather_json(self, path_qs: str) -> dict[str, Any]:
        """``path_qs`` from every member (URL -> decoded body); PeerError if any fails."""
        members = self.members()
        if not members:
            raise PeerError("no group members known yet")
        replies = await asyncio.gather(*(self.fetch(url, path_qs) for url in members))
        out: dict[str, Any] = {}
        for url, reply in zip(members, replies, strict=True):
            if reply.status != 200:
                raise PeerError(f"{url}{path_qs}: HTTP {reply.status}")
            out[url] = orjson.loads(reply.body)
        return out


def check_coverage(partition_lists: list[list[int]], partitions: int) -> None:
    """Raise PeerError unless the members together cover every partition exactly once.

    A scatter-gather answer is only correct when each home partition was read
    from exactly one active copy; anything else means the group is moving.
    """
    seen: list[int] = [p for parts in partition_lists for p in parts]
    if len(seen) != len(set(seen)) or set(seen) != set(range(partitions)):
        missing = sorted(set(range(partitions)) - set(seen))
        raise PeerError(f"partitions not covered exactly once (missing {missing})")


def _norm(url: str | URL) -> str:
    """Canonical form for comparing worker URLs (scheme://host:port, no trailing slash)."""
    u = URL(str(url))
    if not u.scheme:
        return str(url).rstrip("/")
    port = u.port or (443 if u.scheme == "https" else 80)
    return f"{u.scheme}://{u.host}:{port}"
