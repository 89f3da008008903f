"""Ingest: snapshots -> change detection -> the status topic; rejects -> dead letters.

``changes`` decides which station records are emitted (a change of state or a
heartbeat); ``job`` is ``velib ingest``: it reads a source, publishes the
emitted records keyed by station code and sends every rejection to the
dead-letter topic with its reason.

Imports from the project: kafka, lifecycle, record, settings, sources.
"""
