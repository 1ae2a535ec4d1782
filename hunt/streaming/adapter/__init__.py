"""The one door to Faust, mode and aiokafka internals.

hunt runs on Faust's consumer, group, flow control, commits and tables, and
bypasses them only where a measured cost or a found race demands it. Every
such reach into a private upstream attribute lives in this package, marked
``# private:`` (``tests/unit/test_upstream.py`` fails on one anywhere else),
behind a typed interface:

* :mod:`.consumer`: Faust's consumer with hunt's fetch loop (one rewind-safe
  delivery per fetch), fetch settings, seeks on the consumer thread and the
  coordinator fence's hooks;
* :mod:`.queues`: the changelog queue that drops records of a past consumer
  generation before Faust's recovery sees them;
* :mod:`.sensors`: Faust's Prometheus sensors fed once per batch;
* :mod:`.internals`: small accessors (the aiokafka producer, a table
  partition's RocksDB, gaps, blueprints, diagnostics).

Callers import from the module of the role they need, as aiokafka's
subpackages are used; nothing is re-exported here.
"""
