"""API rate limits: DRF's anonymous, per-user and scoped throttles, counted in the
default cache (CACHES: Redis in production, a file cache on one machine).

The rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon" | "user" | "public_read"]
(from HWADMIN_THROTTLE_ANON / _USER / _PUBLIC_READ). DRF's own classes copy that dict
when they are imported; these read it on every request, so `override_settings` (and
pytest-django's `settings` fixture) change the rates in tests. A rate of None turns
its throttle off.
"""

from rest_framework import throttling
from rest_framework.settings import api_settings


class _RatesFromSettings:
    @property
    def THROTTLE_RATES(self):  # noqa: N802 (DRF's attribute name)
        return api_settings.DEFAULT_THROTTLE_RATES


class AnonThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    """Requests without a user (no token, no session), per client address."""


class UserThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    """Requests of a logged-in user or an API token, per user."""


class PublicReadThrottle(_RatesFromSettings, throttling.ScopedRateThrottle):
    """Views with `throttle_scope = "public_read"`, per client address."""
