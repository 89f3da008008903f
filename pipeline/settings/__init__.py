"""Every setting's one home: each stage's frozen settings object, built in one order.

One module per stage (``ingest``, ``capture``, ``stream``, ``compare``, ``run``,
``local`` for the local broker and feed, ``clock`` for the local zone) declares its
settings class: every
default, check, params.yaml key and environment variable once. ``shared``
holds what several stages declare alike (Kafka fields, the heartbeat and the
stale rule), ``declare`` the machinery that builds them (code defaults <-
params.yaml <- environment <- overrides) and turns them into command-line
options (and the user-error types: ``UserError`` and its kinds), ``project`` finds the
project root, reads params.yaml and parses
durations. Kafka security (``KAFKA_*``) is not a setting here: it lives with
the Kafka clients and is never stored or logged.

Imports from the project: nothing.
"""
