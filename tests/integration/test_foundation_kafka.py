"""The foundation: a real broker round trip, and Spark's native Kafka source."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from pipeline.kafka import clients

pytestmark = pytest.mark.integration


def _produce(bootstrap: str, topic: str, messages: list[tuple[str, dict]]) -> None:
    producer = clients.producer(bootstrap)
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=json.dumps(value).encode())
        producer.flush()
    finally:
        producer.close()


def _messages(n: int) -> list[tuple[str, dict]]:
    codes = ["16107", "8052", "31024_relais", "18034"]
    return [(codes[i % len(codes)], {"seq": i, "station": codes[i % len(codes)]}) for i in range(n)]


def test_round_trip_keeps_keys_values_and_per_key_order(kafka_bootstrap, make_topic, group_id):
    topic = make_topic(partitions=3)
    sent = _messages(200)
    _produce(kafka_bootstrap, topic, sent)

    consumer = clients.consumer(kafka_bootstrap, group_id, consumer_timeout_ms=5000)
    consumer.subscribe([topic])
    got = [(m.key.decode(), json.loads(m.value), m.partition) for m in consumer]
    consumer.close()

    assert len(got) == len(sent)
    assert sorted((k, v["seq"]) for k, v, _ in got) == sorted((k, v["seq"]) for k, v in sent)
    per_key: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for key, value, partition in got:
        per_key[key].append(value["seq"])
        partitions[key].add(partition)
    for key, seqs in per_key.items():
        assert seqs == sorted(seqs), f"records of {key} out of order"
        assert len(partitions[key]) == 1, f"key {key} spread over partitions"


def test_spark_reads_topic_with_native_kafka_source(spark, kafka_bootstrap, make_topic, tmp_path):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    topic = make_topic(partitions=2)
    sent = _messages(50)
    _produce(kafka_bootstrap, topic, sent)

    schema = T.StructType(
        [T.StructField("seq", T.IntegerType()), T.StructField("station", T.StringType())]
    )
    stream = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka_bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(
            F.col("key").cast("string").alias("key"),
            F.from_json(F.col("value").cast("string"), schema).alias("v"),
        )
        .select("key", "v.seq", "v.station")
    )
    out = tmp_path / "out"
    query = (
        stream.writeStream.format("parquet")
        .option("path", str(out))
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(180)
    assert query.exception() is None

    rows = spark.read.parquet(str(out)).collect()
    assert sorted((r.key, r.seq, r.station) for r in rows) == sorted(
        (k, v["seq"], v["station"]) for k, v in sent
    )
