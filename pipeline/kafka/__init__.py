"""Everything that talks to Kafka: clients, security, login check, the local broker.

``clients`` builds producers, consumers and topics the same way everywhere,
``security`` reads the ``KAFKA_*`` client settings once (SASL/SSL) and renders
them for kafka-python and for Spark, ``login`` checks a SASL login up front,
``broker`` (with ``broker_files``) runs a single-node Apache Kafka (KRaft) from
Maven jars for tests, ``velib run`` and live collection, ``cluster`` runs one
controller and N brokers of it (replicated topics, failover tests), ``serve``
keeps either in the foreground (``velib broker [--brokers 3]``), ``replicas``
says which replicas are missing when the cluster refuses a write.

Imports from the project: lifecycle, settings.
"""
