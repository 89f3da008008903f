"""Shared fixtures: one real Kafka broker and one SparkSession per test run (per xdist worker).

Kafka comes from, in order: ``KAFKA_BOOTSTRAP_SERVERS`` (an existing cluster),
Testcontainers' ``KafkaContainer`` when a Docker engine answers, or the
project's own KRaft broker from Maven jars. A missing broker or Java skips
the integration tests with a printed reason, unless ``REQUIRE_KAFKA=1`` (CI),
where it fails them instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

from pipeline.kafka import clients

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.getenv("CI") else os.getenv("HYPOTHESIS_PROFILE", "dev"))

log = logging.getLogger(__name__)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that declare a long timeout first, the longest first; the rest as collected.

    Those are whole chains (``dvc repro`` in two clones, the soak, the standalone
    cluster, the kill -9 runs). ``make test`` hands tests to two workers in this order
    (pytest-xdist, ``--maxschedchunk 1``): started early, a chain overlaps everything
    else; started last, it would leave one worker idle for minutes at the end.
    """

    def declared_s(item: pytest.Item) -> float:
        marker = item.get_closest_marker("timeout")
        return float(marker.args[0]) if marker and marker.args else 0.0

    items.sort(key=lambda item: -declared_s(item))  # stable: ties keep collection order


def _unavailable(reason: str) -> None:
    """Fail under REQUIRE_KAFKA=1, else skip with the reason shown by -rs."""
    if os.getenv("REQUIRE_KAFKA") == "1":
        pytest.fail(f"REQUIRE_KAFKA=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no engine here"
        return False


@pytest.fixture(scope="session")
def java() -> str:
    """The java binary the local broker runs on (skip, or fail under REQUIRE_KAFKA=1)."""
    from pipeline.kafka.broker import BrokerError, java_executable

    try:
        return java_executable()
    except BrokerError as exc:
        _unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """HOST:PORT of a real Kafka broker for the whole test run."""
    given = os.getenv("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if os.getenv("VELIB_TEST_DOCKER", "1") == "1" and _docker_answers():
        # testcontainers 4.15 moved the module; testcontainers.kafka is a deprecated alias.
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from pipeline.kafka.broker import BrokerError, LocalBroker, java_executable

    try:
        java_executable()
    except BrokerError as exc:
        _unavailable(str(exc))
    broker = LocalBroker()
    try:
        broker.start()
    except BrokerError as exc:
        _unavailable(f"local Kafka broker did not start: {exc}")
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def make_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """Create a fresh uuid-named topic; returns its name."""

    def _make(partitions: int = 1, prefix: str = "test") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        clients.ensure_topic(kafka_bootstrap, name, partitions=partitions)
        return name

    return _make


@pytest.fixture
def group_id() -> str:
    """A fresh consumer group, so tests never share committed offsets."""
    return f"group-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def spark():  # noqa: ANN201
    """One local SparkSession (local[2], Kafka connector on the classpath) for the run."""
    if shutil.which("java") is None and not os.getenv("JAVA_HOME"):
        _unavailable("java not found: Spark needs Java 17+")
    from pipeline.stream.session import get_spark

    session = get_spark("velib-tests")
    yield session
    session.stop()
