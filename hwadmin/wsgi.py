import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwadmin.settings")
application = get_wsgi_application()

# A WSGI server (gunicorn) runs no system checks: refuse to serve with an unsafe webhook configuration,
# as `manage.py check` and the Celery workers do, rather than start and fail every delivery.
from moderation.checks import refuse_unsafe_start  # noqa: E402

refuse_unsafe_start("the web process")
