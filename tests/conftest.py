import os

import pytest

from tests import tiny


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory):
    """A random tiny 2-class ELECTRA classifier with a WordPiece tokenizer, on disk."""
    return tiny.make_classifier(tmp_path_factory.mktemp("tiny-classifier"))


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-tokenizer")
    tiny.train_tokenizer(directory)
    return directory


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process, synchronously (unit tests only)."""
    from hwadmin.celery import app as celery_app

    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def postgres(db):
    """Fails (never skips) when the test database is not PostgreSQL."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail(
            "this test needs PostgreSQL: run it with DATABASE_URL=postgres://... "
            f"(got the {connection.vendor} backend); `make test` sets it"
        )
    return connection


@pytest.fixture
def redis_url():
    """The Redis broker URL; fails loudly if Redis does not answer."""
    import redis

    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.fail(f"this test needs CELERY_BROKER_URL=redis://... (got {url or 'nothing'}); `make test` sets it")
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} does not answer: {exc}")
    return url
