"""Login lockouts (django-axes) and the log of failed logins.

`LoginLockoutBackend` is the first entry of AUTHENTICATION_BACKENDS: it refuses
every login, right password or not, from a client that django-axes has locked
out (settings: AXES_*, from HWADMIN_LOGIN_* variables). Failed logins and
lockouts are logged on the `hwadmin.logins` logger with the user name and the
client address, never the password.

The receivers below are connected when this module is imported, which
`django.contrib.auth.authenticate()` does (it loads every backend) before it
can send `user_login_failed`.
"""

import logging

from axes.backends import AxesStandaloneBackend
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.shortcuts import render

log = logging.getLogger("hwadmin.logins")

# Longest user name written to the log (what a client sends is not bounded).
MAX_LOGGED_USERNAME = 150


def client_ip(request):
    """The client's address: REMOTE_ADDR, or with HWADMIN_TRUSTED_PROXIES = N > 0 the
    address the N-th proxy from the right of X-Forwarded-For saw (as DRF's throttles do),
    so a client cannot choose its own address by sending the header."""
    if request is None:
        return None
    remote_addr = request.META.get("REMOTE_ADDR")
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote_addr
    addresses = [part.strip() for part in forwarded.split(",")]
    return addresses[-min(proxies, len(addresses))] or remote_addr


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check. A login without an HTTP request (a shell, the test
    client's `login()`) has no client address to count, so it is not checked here;
    every login form (/login/, /admin/login/) passes its request."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _duration(delta):
    """The lockout's length for the page, in the reviewer's language ("15 minutes", "15분")."""
    from django.utils.translation import ngettext

    seconds = round(delta.total_seconds())
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    if seconds % 60 == 0:
        minutes = seconds // 60
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the lockout page (templates/registration/locked_out.html),
    HTTP 429 with a Retry-After header, for /login/ and /admin/login/ alike."""
    cooloff = settings.AXES_COOLOFF_TIME
    response = render(
        request,
        "registration/locked_out.html",
        {
            "username": _username(credentials) or "",
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff": _duration(cooloff) if cooloff else None,
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    if cooloff:
        response["Retry-After"] = str(max(1, round(cooloff.total_seconds())))
    return response


def _username(credentials):
    name = (credentials or {}).get("username")
    if name is None:
        return None
    return str(name)[:MAX_LOGGED_USERNAME]


@receiver(user_login_failed, dispatch_uid="hwadmin-log-failed-login")
def log_failed_login(sender, credentials, request=None, **kwargs):
    # Django masks the password in `credentials`; only the user name is read here.
    log.warning(
        "failed login: username=%r ip=%s path=%s",
        _username(credentials),
        client_ip(request) or "unknown",
        getattr(request, "path", None) or "-",
    )


@receiver(user_locked_out, dispatch_uid="hwadmin-log-lockout")
def log_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    log.warning(
        "login locked out: username=%r ip=%s (%s failed logins; refused for %s)",
        None if username is None else str(username)[:MAX_LOGGED_USERNAME],
        ip_address or client_ip(request) or "unknown",
        getattr(request, "axes_failures_since_start", settings.AXES_FAILURE_LIMIT),
        settings.AXES_COOLOFF_TIME or "good, until `manage.py axes_reset`",
    )
