"""The ``hunt`` command: one sub-command per process a user runs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib import import_module

__all__ = ["main"]

# sub-command -> (module, one-line help); each module exposes ``main(argv) -> int``.
_COMMANDS: dict[str, tuple[str, str]] = {
    "worker": ("hunt.streaming.worker", "run a stream-processing worker (HUNT_* settings)"),
    "broker": ("hunt.ops.broker", "run a local single-node Apache Kafka broker at HUNT_BROKER"),
    "simulate": ("hunt.ops.simulate", "produce realistic shop traffic to the input topics"),
    "bench": ("hunt.ops.bench", "run the benchmark and write a JSON report"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in _COMMANDS:
        width = max(map(len, _COMMANDS))
        lines = [f"  {name:<{width}}  {text}" for name, (_, text) in _COMMANDS.items()]
        print("usage: hunt {" + ",".join(_COMMANDS) + "} [options]\n\n" + "\n".join(lines))
        return 0 if args and args[0] in ("-h", "--help") else 2
    module, _ = _COMMANDS[args[0]]
    entry: Callable[[list[str]], int] = import_module(module).main
    return entry(args[1:])
