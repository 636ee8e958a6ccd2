"""The queue's reads, pages and actions again, on PostgreSQL.

On PostgreSQL a page and an action take their own path (one statement that
locks, moves, logs and hides; holds written with one UPDATE); the unit tests
run the portable path on SQLite. Every test of these modules runs here a
second time (`pytest -m integration` with DATABASE_URL set), so both paths
must give the same results.
"""

import pytest

from .test_actions import *  # noqa: F401,F403 -- collected again here, on PostgreSQL
from .test_pages import *  # noqa: F401,F403
from .test_queue_read import *  # noqa: F401,F403
from .test_text_change import *  # noqa: F401,F403
from .test_webhooks import *  # noqa: F401,F403

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def on_postgres(postgres):
    """Fails (never skips) when the test database is not PostgreSQL."""
