import os

import pytest

from tests import tiny


@pytest.fixture(scope="session", autouse=True)
def model_dir(tmp_path_factory):
    """HWADMIN_MODEL_DIR for the session, in a temporary folder: registration copies models here and
    workers load only from here (worker subprocesses get it through the environment)."""
    from django.conf import settings

    root = tmp_path_factory.mktemp("models")
    before = settings.HWADMIN["MODEL_DIR"], os.environ.get("HWADMIN_MODEL_DIR")
    settings.HWADMIN["MODEL_DIR"] = os.environ["HWADMIN_MODEL_DIR"] = str(root)
    yield root
    settings.HWADMIN["MODEL_DIR"] = before[0]
    if before[1] is None:
        os.environ.pop("HWADMIN_MODEL_DIR", None)
    else:
        os.environ["HWADMIN_MODEL_DIR"] = before[1]


@pytest.fixture(scope="session")
def tiny_classifier_dir(model_dir):
    """A random tiny 2-class ELECTRA classifier with a WordPiece tokenizer, on disk under HWADMIN_MODEL_DIR
    (as a registered one is). Copy it elsewhere to test registering a directory from outside."""
    return tiny.make_classifier(model_dir / "tiny-classifier")


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-tokenizer")
    tiny.train_tokenizer(directory)
    return directory


@pytest.fixture
def reviewer(db):
    """A member of the reviewers group (password: tests.users.PASSWORD)."""
    from tests.users import make_user

    return make_user("minji", "reviewers")


@pytest.fixture
def outsider(db):
    """A signed-up user in no group."""
    from tests.users import make_user

    return make_user("guest")


@pytest.fixture
def page():
    """A Korean tab in headless Chromium (tests.browser.chromium_tab), for the tests marked `browser`."""
    from tests.browser import chromium_tab

    with chromium_tab() as tab:
        yield tab


@pytest.fixture(autouse=True)
def language_outside_requests():
    """Code called outside a request (actions, queue functions, commands) speaks English in tests,
    whatever an earlier request left active: tests of messages get a fixed language. Pages pick their
    own per request (LocaleMiddleware: Korean by default), the API English (hwadmin/i18n.py)."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process, synchronously (unit tests only)."""
    from hwadmin.celery import app as celery_app

    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """The session's own file cache (API throttle counters): test runs side by side on one
    machine do not count each other's requests."""
    from django.test import override_settings

    location = tmp_path_factory.mktemp("cache")
    backend = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(location)}
    with override_settings(CACHES={"default": backend}):
        yield location


@pytest.fixture(autouse=True)
def fresh_cache(private_cache):
    """Empty throttle counters for every test: the throttles stay on, and a test that makes many
    requests is not refused for the requests of the tests before it."""
    from django.core.cache import cache

    cache.clear()


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


@pytest.fixture(autouse=True)
def engine_of_the_run(request):
    """A test marked `engines` runs on SQLite in the unit run and on PostgreSQL in the integration run
    (`scripts/test` sets DATABASE_URL): there it fails, never passes quietly, if the backend is not
    PostgreSQL."""
    if request.node.get_closest_marker("engines") and os.environ.get("DATABASE_URL", "").startswith("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.fail(f"DATABASE_URL names PostgreSQL but the tests run on {connection.vendor}")
