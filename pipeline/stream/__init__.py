"""The Spark job: the status topic -> status, indicators over time, alerts.

``job`` is ``velib stream`` (one Structured Streaming query), ``microbatch``
takes one micro-batch through every output, ``timeline`` is the per-station
state pass (time in force, windows, alerts, kept state), ``indicators`` holds
the DataFrame transforms of the indicators, ``tables`` writes the tables
exactly once, ``alerts`` renders the alerts topic, ``session`` builds the
SparkSession. Every output table is owned here.

Imports from the project: kafka, lifecycle, record, settings, vocabulary.
"""
