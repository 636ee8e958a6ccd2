"""Login lockouts (django-axes), the failed-login log, and the API throttles."""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from moderation.models import Product

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-for-tests"
ATTACKER = "10.0.0.66"
ELSEWHERE = "10.0.0.7"
LOGIN_PAGES = ["/login/", "/admin/login/"]


@pytest.fixture
def person(db):
    # Staff, so that /admin/login/ lets the right password in too.
    return User.objects.create_user("minji", "minji@example.com", PASSWORD, is_staff=True)


def attempt(url, username, password, ip=ATTACKER, client=None):
    client = client or Client()
    response = client.post(url, {"username": username, "password": password, "next": url}, REMOTE_ADDR=ip)
    return client, response


def logged_in(client):
    return "_auth_user_id" in client.session


def fail(url, username, times, ip=ATTACKER):
    return [attempt(url, username, f"wrong-{n}", ip=ip)[1] for n in range(times)]


def through_proxy(username, password, forwarded_for, proxy="172.16.0.1"):
    """A login to /login/ that reaches the app from `proxy`, whose X-Forwarded-For names `forwarded_for`."""
    return Client().post(
        "/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_after_the_limit_of_wrong_passwords_the_right_one_is_refused_too(url, person, settings):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5  # the default (HWADMIN_LOGIN_FAILURE_LIMIT)
    responses = fail(url, person.username, limit)
    assert [r.status_code for r in responses[:-1]] == [200] * (limit - 1)  # the form again, with its error
    assert responses[-1].status_code == 429

    client, response = attempt(url, person.username, PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    page = response.content.decode()
    assert "로그인 실패가 너무 많습니다" in page and "15분" in page and person.username in page
    assert response["Retry-After"] == str(15 * 60)
    assert "<!doctype html>" in page  # the page, not a bare line of text


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_below_the_limit_the_right_password_works_and_clears_the_count(url, person, settings):
    fail(url, person.username, settings.AXES_FAILURE_LIMIT - 1)
    client, response = attempt(url, person.username, PASSWORD)
    assert response.status_code == 302 and logged_in(client)
    # AXES_RESET_ON_SUCCESS: the earlier failures no longer count.
    assert all(r.status_code == 200 for r in fail(url, person.username, settings.AXES_FAILURE_LIMIT - 1))


def test_the_same_user_from_another_address_is_not_locked_out(person, settings):
    fail("/login/", person.username, settings.AXES_FAILURE_LIMIT)
    client, response = attempt("/login/", person.username, PASSWORD, ip=ELSEWHERE)
    assert response.status_code == 302 and logged_in(client)


def test_a_locked_out_address_is_refused_for_every_user_name(person, settings):
    """The default HWADMIN_LOGIN_LOCKOUT_PARAMETERS=username+ip_address,ip_address: an address that
    tries many names (password spraying) is stopped too; other addresses are not."""
    User.objects.create_user("jisoo", password=PASSWORD)
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt("/login/", f"someone-{n}", "guess")
    _, response = attempt("/login/", "jisoo", PASSWORD)
    assert response.status_code == 429
    client, response = attempt("/login/", "jisoo", PASSWORD, ip=ELSEWHERE)
    assert response.status_code == 302 and logged_in(client)


def test_lockout_by_user_and_address_only_leaves_other_users_of_that_address_alone(person, settings):
    settings.AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
    User.objects.create_user("jisoo", password=PASSWORD)
    fail("/login/", person.username, settings.AXES_FAILURE_LIMIT)
    assert attempt("/login/", person.username, PASSWORD)[1].status_code == 429
    client, response = attempt("/login/", "jisoo", PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_the_lockout_ends_after_the_cool_off_time(person, settings):
    fail("/login/", person.username, settings.AXES_FAILURE_LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    client, response = attempt("/login/", person.username, PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_axes_reset_unlocks_at_once(person, settings):
    fail("/admin/login/", person.username, settings.AXES_FAILURE_LIMIT)
    assert attempt("/admin/login/", person.username, PASSWORD)[1].status_code == 429
    call_command("axes_reset", stdout=open("/dev/null", "w"))
    client, response = attempt("/admin/login/", person.username, PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_a_failed_login_is_logged_with_user_name_and_address_but_no_password(person, caplog):
    with caplog.at_level(logging.INFO, logger="hwadmin.logins"):
        attempt("/login/", person.username, "hunter2-secret")
    lines = [r.getMessage() for r in caplog.records if r.name == "hwadmin.logins"]
    assert lines == [f"failed login: username='minji' ip={ATTACKER} path=/login/"]
    assert "hunter2-secret" not in caplog.text


def test_a_lockout_is_logged(person, settings, caplog):
    with caplog.at_level(logging.INFO, logger="hwadmin.logins"):
        fail("/admin/login/", person.username, settings.AXES_FAILURE_LIMIT)
    lockouts = [r.getMessage() for r in caplog.records if r.name == "hwadmin.logins" and "locked out" in r.getMessage()]
    assert lockouts == [f"login locked out: username='minji' ip={ATTACKER} (5 failed logins; refused for 0:15:00)"]


def test_x_forwarded_for_does_not_change_the_address_without_trusted_proxies(person, settings):
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    for n in range(settings.AXES_FAILURE_LIMIT):
        through_proxy(person.username, "x", f"192.0.2.{n}", proxy=ATTACKER)
    _, response = attempt("/login/", person.username, PASSWORD)
    assert response.status_code == 429


def test_behind_trusted_proxies_the_forwarded_address_counts(person, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        through_proxy(person.username, "x", f"spoofed, {ATTACKER}")
    assert through_proxy(person.username, PASSWORD, ATTACKER).status_code == 429
    assert through_proxy(person.username, PASSWORD, ELSEWHERE).status_code == 302


def test_a_login_without_a_request_is_not_counted_and_does_not_fail(person):
    """The test client's login() (and a shell's authenticate()) pass no request: nothing to count."""
    client = Client()
    assert not client.login(username=person.username, password="wrong")
    assert client.login(username=person.username, password=PASSWORD)
    assert not AccessAttempt.objects.exists()


def test_bad_lockout_settings_are_refused_with_the_variable_named():
    from hwadmin.settings import _lockout_parameters

    assert _lockout_parameters("X", ["username+ip_address", "ip_address"]) == [["username", "ip_address"], "ip_address"]
    with pytest.raises(RuntimeError, match="HWADMIN_LOGIN_LOCKOUT_PARAMETERS: 'ip' is not a lockout parameter"):
        _lockout_parameters("HWADMIN_LOGIN_LOCKOUT_PARAMETERS", ["ip"])


# --- API throttles ----------------------------------------------------------------------------


def set_rates(settings, **rates):
    merged = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": merged}


def test_the_default_rates_suit_scripts(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
        "anon": "60/min",
        "user": "1200/min",
        "public_read": "120/min",
    }


class OpenView(APIView):
    """Any view with the default throttles and no login required (like the schema)."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


def test_anonymous_requests_are_throttled_per_address(settings):
    set_rates(settings, anon="3/min")
    view = OpenView.as_view()
    factory = APIRequestFactory()
    codes = [
        view(factory.get("/open", REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")).status_code
        for n in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    assert view(factory.get("/open", REMOTE_ADDR=ELSEWHERE)).status_code == 200


@pytest.fixture
def ingest_client(db):
    def make(name):
        from django.contrib.auth.models import Group

        user = User.objects.create(username=name)
        user.groups.add(Group.objects.get(name="ingest clients"))
        return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    return make


def test_token_users_are_throttled_per_user(settings, ingest_client):
    set_rates(settings, user="3/min")
    app, other = ingest_client("app-one"), ingest_client("app-two")
    codes = [app.post("/api/v1/reviews", [], content_type="application/json").status_code for _ in range(3)]
    assert codes == [400, 400, 400]  # an empty list: answered, then
    refused = app.post("/api/v1/reviews", [], content_type="application/json")
    assert refused.status_code == 429
    assert "throttled" in refused.json()["error"] and int(refused["Retry-After"]) > 0
    assert other.post("/api/v1/reviews", [], content_type="application/json").status_code == 400


def test_the_public_read_path_has_its_own_rate_per_address(settings):
    set_rates(settings, anon="1/min", public_read="3/min")
    Product.objects.create(external_id="p-1", name="크림")
    url = "/api/v1/products/p-1/reviews"
    client = Client()
    codes = [client.get(url, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]
    assert "throttled" in client.get(url, REMOTE_ADDR=ATTACKER).json()["error"]
    assert client.get(url, REMOTE_ADDR=ELSEWHERE).status_code == 200


def test_bad_rates_are_refused_with_the_variable_named(monkeypatch):
    from hwadmin.settings import env_rate

    monkeypatch.setenv("HWADMIN_THROTTLE_ANON", "60 per minute")
    with pytest.raises(RuntimeError, match="HWADMIN_THROTTLE_ANON='60 per minute': give a rate such as 60/min"):
        env_rate("HWADMIN_THROTTLE_ANON", "60/min")
    monkeypatch.setenv("HWADMIN_THROTTLE_ANON", "30/hour")
    assert env_rate("HWADMIN_THROTTLE_ANON", "60/min") == "30/hour"


def test_throttles_count_in_the_default_cache(settings):
    from django.core.cache import cache

    set_rates(settings, public_read="1/min")
    Product.objects.create(external_id="p-1", name="크림")
    assert Client().get("/api/v1/products/p-1/reviews").status_code == 200
    assert len(cache.get("throttle_public_read_127.0.0.1")) == 1
    assert Client().get("/api/v1/products/p-1/reviews").status_code == 429
    cache.clear()
    assert Client().get("/api/v1/products/p-1/reviews").status_code == 200


def settings_in_a_fresh_process(**env):
    import json
    import os
    import subprocess
    import sys

    code = "import json, hwadmin.settings as s; print(json.dumps(s.CACHES, default=str))"
    environment = {**os.environ, "DEBUG": "1", **env}
    for name in ("CACHE_URL", "REDIS_CACHE_URL"):
        if name not in env:
            environment.pop(name, None)
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
    return done.returncode, (json.loads(done.stdout) if done.returncode == 0 else done.stderr)


def test_the_cache_is_redis_with_cache_url_and_files_under_var_otherwise(tmp_path):
    code, caches = settings_in_a_fresh_process(HWADMIN_VAR_DIR=str(tmp_path))
    assert code == 0 and caches["default"]["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert caches["default"]["LOCATION"] == str(tmp_path / "cache")
    code, caches = settings_in_a_fresh_process(HWADMIN_VAR_DIR=str(tmp_path), REDIS_CACHE_URL="redis://cache:6379/1")
    assert code == 0 and caches["default"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://cache:6379/1",
        "KEY_PREFIX": "hwadmin",
    }
    code, error = settings_in_a_fresh_process(HWADMIN_VAR_DIR=str(tmp_path), CACHE_URL="memcached://x")
    assert code != 0 and "CACHE_URL='memcached://x': give a Redis URL" in error
