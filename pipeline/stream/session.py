"""One way to get a SparkSession that can read Kafka and write Delta, locally or on a cluster.

Locally the Kafka connector and Delta Lake jars come from `make jars` (Maven
Central, cached in jvm/lib/spark and jvm/lib/delta) and go on ``spark.jars``,
so no Ivy resolution happens at run time and the session works offline; with
``--master spark://...`` the executors fetch the same local jars from the
driver. On a cluster or Databricks an existing session is reused (Databricks
has Delta built in); under spark-submit the Delta confs are still set, the
jars come from ``--jars``/``--packages``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.settings import project

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CONNECTOR = "org.apache.spark:spark-sql-kafka-0-10_2.13"
# The Delta release that pairs with PySpark 4.2.0 (jvm/delta/pom.xml).
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"
JAR_FOLDERS = ("spark", "delta")  # the Kafka connector, Delta Lake
# Set when the session is created (the SQL extension and the catalog cannot be added later).
# Deletion vectors stay off: they raise a table's reader protocol to 3, which deltalake
# (delta-rs, the notebooks' reader) cannot open; every CREATE TABLE also says so itself.
DELTA_CONFS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    # a checksum file per commit is a validation aid; measured here, a small commit takes
    # ~15 % longer with it and the stream's batches ~25 % longer
    "spark.databricks.delta.writeChecksumFile.enabled": "false",
}


def connector_jars() -> list[Path]:
    """The Kafka connector and Delta jars copied by `make jars` (empty if not fetched)."""
    base = os.getenv("VELIB_JARS_DIR")
    lib = Path(base) if base else project.ROOT / "jvm" / "lib"
    return [
        jar
        for name in JAR_FOLDERS
        if (lib / name).is_dir()
        for jar in sorted((lib / name).glob("*.jar"))
    ]


def get_spark(app_name: str = "velib", master: str | None = None) -> SparkSession:
    """The active SparkSession, or a new one with the Kafka connector and Delta Lake.

    Args:
        app_name: Spark application name.
        master: Spark master (``local[2]``, ``spark://host:7077``, ...); default
            ``$SPARK_MASTER`` or ``local[2]``. Under spark-submit the submitted
            master and packages are kept.
    """
    from pyspark import __version__ as pyspark_version
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(app_name).config("spark.sql.session.timeZone", "UTC")
    for key, value in DELTA_CONFS.items():
        builder = builder.config(key, value)
    if os.getenv("PYSPARK_GATEWAY_PORT") and master is None:
        # Launched by spark-submit (or a platform): its --master, --packages and
        # memory settings rule; only the session settings the job relies on are set.
        return builder.getOrCreate()
    # Python workers (pandas UDFs, applyInPandasWithState) must run this venv's
    # interpreter, not whatever `python3` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    master = master or os.getenv("SPARK_MASTER") or "local[2]"
    if master.startswith("local"):
        # A local session talks to itself only: bound to the loopback address, Spark does
        # not look up the host's name and warn that it "resolves to a loopback address".
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", os.environ["SPARK_LOCAL_IP"])
    builder = (
        builder.master(master)
        # one shuffle partition per local core: fewer state-store tasks and files per batch
        .config("spark.sql.shuffle.partitions", os.getenv("VELIB_SHUFFLE_PARTITIONS", "2"))
        # Delta rebuilds a table's state (files, transaction ids) with a Spark job of 50
        # tasks by default; the stream's tables are small: as many tasks as local cores
        .config(
            "spark.databricks.delta.snapshotPartitions", os.getenv("VELIB_SHUFFLE_PARTITIONS", "2")
        )
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.getenv("VELIB_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.sql.streaming.forceDeleteTempCheckpointLocation", "true")
        # streaming queries cannot use AQE (Spark warns per query); the record has 19 fields
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.debug.maxToStringFields", "200")
    )
    jars = connector_jars()
    if jars:  # local files: the driver serves them to executors on a cluster too
        builder = builder.config("spark.jars", ",".join(str(j) for j in jars))
    else:  # no local cache: let Spark resolve the connector and Delta from Maven Central
        packages = f"{CONNECTOR}:{pyspark_version},{DELTA_PACKAGE}"
        builder = builder.config("spark.jars.packages", packages)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.getenv("VELIB_SPARK_LOG_LEVEL", "WARN"))
    return spark
