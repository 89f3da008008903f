"""The Spark job: the status and polls topics -> status, polls, indicators over time, alerts.

``job`` is ``velib stream`` (one Structured Streaming query over both topics),
``microbatch`` takes one micro-batch through every output; in it ``parse``
reads the Kafka values (rejects with their reason), ``frontier`` says how far
the output is complete, ``timeline`` is the per-station state pass (time in
force, windows, alerts, kept state), ``observation`` the poll log's part of it
(when each station was seen), ``indicators`` the window aggregates, ``arrow``
takes the batch's frames to the driver and the kept state back, ``tables``
commits each table once through delta-rs, ``state`` keeps the state between
batches, ``alerts`` renders the alerts topic. ``progress`` reads how far the
tables are without Spark, ``export`` rewrites them canonically for DVC,
``session`` builds the SparkSession. Every output table is owned here.

Imports from the project: clock, delta, kafka, lifecycle, poll, record, settings, vocabulary.
"""
