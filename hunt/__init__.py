"""hunt: real-time e-commerce analytics on Kafka and Faust.

Layout (data flows one way: Kafka -> streaming -> domain -> streaming -> Kafka/web):

- :mod:`hunt.domain`: the product rules as pure Python (parsing, state, windows, alerts).
- :mod:`hunt.streaming`: the Faust app, topics, tables and the batch agent.
- :mod:`hunt.web`: HTTP views and the dashboard.
- :mod:`hunt.ops`: the local Kafka broker, the traffic simulator and the benchmark.
- :mod:`hunt.config`: settings, read once from the environment.
"""

__version__ = "0.1.0"
