"""The stream's Delta tables without a JVM: read (any version), history, compaction.

Spark writes the tables (:mod:`pipeline.stream.tables`); everything that only
looks at them or keeps them tidy uses ``deltalake`` (delta-rs) here, so
notebooks, ``velib compare``, the export and a live run's status line never
start Spark. ``read`` opens a table folder, a Delta table at a version or a
time, or the Parquet export; ``history`` lists each table's versions with the
micro-batch that wrote them (``velib history``); ``maintain`` compacts old
partitions and vacuums removed files (``velib compact``, and daily in
``velib run --live``).

Imports from the project: settings.
"""
