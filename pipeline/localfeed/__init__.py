"""A local Vélib' feed for tests and demos: a recording served over HTTP as if live.

``recording`` orders a recording's snapshots on a clock, ``shapes`` rewrites
them into the payloads the live feeds put on the wire, ``faults`` injects the
real feeds' misbehaviour, ``server`` answers HTTP on loopback, ``job`` is
``velib feed serve`` and the feed of ``velib run --live --local-feed``.

Imports from the project: lifecycle, record, settings, sources.
"""
