"""Ingest: snapshots -> change detection -> the status topic; rejects -> dead letters.

``changes`` decides which station records are emitted (a change of state or a
heartbeat); ``job`` is ``velib ingest``: it reads a source, publishes the
emitted records keyed by station code, then one poll message per snapshot
(``polls``: what was read, listed and emitted, or why it failed), and sends
every rejection to the dead-letter topic with its reason; ``resume`` is where
a restarted run stands and the feed clock.

Imports from the project: kafka, lifecycle, poll, record, settings, sources.
"""
