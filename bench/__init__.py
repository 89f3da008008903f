"""`make bench`: each stage's throughput as a ratio to the tool it is built on.

Absolute speeds on a shared machine are noise, so every figure is measured
in one run beside its ceiling (raw kafka-python producer/consumer, a plain
Spark Kafka -> Parquet copy) and reported as a ratio. Stages run in their own
subprocess (see :mod:`bench.worker`) so each peak RSS belongs to that stage.
``python -m bench.candidates`` measures the stream design against a
transformWithStateInPandas candidate and the plain copy (:mod:`bench.candidates`).
"""
