"""velib-paris: Paris Vélib' availability through Kafka, CSV, Spark and DVC.

One package per stage of the chain; arrows run one way, from the command line
down to the ground floor (each package's docstring lists what it may import,
and tests/unit/test_architecture.py holds the code to it):

    sources/    recorded files, the raw archive, live feeds -> station records
    localfeed/  a recording served as the live feeds would (tests, demos, soak)
    kafka/      clients, security, the local broker
    ingest/     change detection -> the status topic; rejects -> dead letters
    capture/    the status topic -> CSV, exactly once
    stream/     Spark: the status topic -> Delta tables, alerts
    delta/      the Delta tables without a JVM: read any version, history, compaction
    research/   readers of the tables, summaries, figures, maps (notebooks)
    compare/    two snapshot sets side by side
    forecast/   bikes and docks of every station at +15/30/60 min, scored honestly
    settings/   every setting's one home

Ground floor, importing nothing of ours: ``record`` (the station record),
``poll`` (the poll record: one per snapshot read; it uses the record's time format),
``vocabulary`` (every indicator), ``lifecycle`` (stop signals, progress),
``durable`` (atomic, fsynced file writes), ``clock`` (Paris dates and hours,
microseconds; it reads its zone, params.yaml ``base.timezone``, from settings).
Top: ``cli`` (the ``velib`` command), ``run`` (``velib run``), ``live``
(``velib run --live``).
"""

__version__ = "0.1.0"
