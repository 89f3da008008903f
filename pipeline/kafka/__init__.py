"""Everything that talks to Kafka: clients, security, login check, the local broker.

``clients`` builds producers, consumers and topics the same way everywhere,
``security`` reads the ``KAFKA_*`` client settings once (SASL/SSL) and renders
them for kafka-python and for Spark, ``login`` checks a SASL login up front,
``broker`` (with ``broker_files``) runs a single-node Apache Kafka (KRaft) from
Maven jars for tests, ``velib run`` and live collection.

Imports from the project: lifecycle, settings.
"""
