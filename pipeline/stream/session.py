"""One way to get a SparkSession that can read Kafka, locally or on a cluster.

Locally the Kafka connector jars come from `make jars` (Maven Central, cached
in jvm/lib/spark), so no Ivy resolution happens at run time and the session
works offline. On a cluster or Databricks an existing session is reused and
the connector is the platform's (or ``--packages`` on spark-submit).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipeline.settings import project

CONNECTOR = "org.apache.spark:spark-sql-kafka-0-10_2.13"


def connector_jars() -> list[Path]:
    """The connector jars copied by `make jars` (empty if not fetched)."""
    base = os.getenv("VELIB_JARS_DIR")
    lib = (Path(base) if base else project.ROOT / "jvm" / "lib") / "spark"
    return sorted(lib.glob("*.jar")) if lib.is_dir() else []


def get_spark(app_name: str = "velib", master: str | None = None):  # noqa: ANN201
    """The active SparkSession, or a new one with the Kafka connector on its classpath.

    Args:
        app_name: Spark application name.
        master: Spark master; default ``$SPARK_MASTER`` or ``local[2]``. Under
            spark-submit the submitted master and packages are kept.
    """
    from pyspark import __version__ as pyspark_version
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(app_name).config("spark.sql.session.timeZone", "UTC")
    if os.getenv("PYSPARK_GATEWAY_PORT") and master is None:
        # Launched by spark-submit (or a platform): its --master, --packages and
        # memory settings rule; only the session settings the job relies on are set.
        return builder.getOrCreate()
    # Python workers (pandas UDFs, applyInPandasWithState) must run this venv's
    # interpreter, not whatever `python3` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    master = master or os.getenv("SPARK_MASTER", "local[2]")
    if master.startswith("local"):
        # A local session talks to itself only: bound to the loopback address, Spark does
        # not look up the host's name and warn that it "resolves to a loopback address".
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", os.environ["SPARK_LOCAL_IP"])
    builder = (
        builder.master(master)
        # one shuffle partition per local core: fewer state-store tasks and files per batch
        .config("spark.sql.shuffle.partitions", os.getenv("VELIB_SHUFFLE_PARTITIONS", "2"))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.getenv("VELIB_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.sql.streaming.forceDeleteTempCheckpointLocation", "true")
        # streaming queries cannot use AQE (Spark warns per query); the record has 19 fields
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.debug.maxToStringFields", "200")
    )
    jars = connector_jars()
    if jars:
        builder = builder.config("spark.jars", ",".join(str(j) for j in jars))
    else:  # no local cache: let Spark resolve the connector from Maven Central
        builder = builder.config("spark.jars.packages", f"{CONNECTOR}:{pyspark_version}")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.getenv("VELIB_SPARK_LOG_LEVEL", "WARN"))
    return spark
