"""velib-paris: Paris Vélib' availability through Kafka, CSV, Spark and DVC."""

__version__ = "0.1.0"
