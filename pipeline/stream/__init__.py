"""The Spark job: the status and polls topics -> status, polls, indicators over time, alerts.

``job`` is ``velib stream`` (one Structured Streaming query over both topics),
``microbatch`` takes one micro-batch through every output, ``timeline`` is the
per-station state pass (time in force, windows, alerts, kept state),
``observation`` is the poll log's part of it (when each station was seen),
``indicators`` holds the DataFrame transforms of the indicators, ``tables``
writes the tables exactly once, ``alerts`` renders the alerts topic,
``session`` builds the SparkSession. Every output table is owned here.

Imports from the project: kafka, lifecycle, poll, record, settings, vocabulary.
"""
