"""Capture: the status topic -> CSV files, each record exactly once, even across crashes.

``job`` is ``velib capture`` (consume, publish files atomically, commit
offsets after the files are durable); ``files`` renders rows, names parts and
reads a capture folder back.

Imports from the project: durable, kafka, lifecycle, record, settings.
"""
