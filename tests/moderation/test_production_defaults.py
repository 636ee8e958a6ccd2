"""Production defaults: DEBUG off unless asked for, `check --deploy` clean, no debug page, a strict
Content-Security-Policy with no inline script, and an admin that cannot change moderation state."""

import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.templatetags.static import static
from django.utils import timezone

from moderation.models import Check, Classifier, Product, QueueItem, Review, Score
from tests.tiny import ROOT

# What the test run sets (pytest.ini) and a production environment does not.
TEST_ONLY = {
    "DEBUG",
    "SECRET_KEY",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "DATABASE_URL",
    "ALLOWED_HOSTS",
    "HWADMIN_TASKS_EAGER",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}  # tests/moderation/queue/conftest.py sets it for Playwright


def environment(tmp_path, **values):
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY and not k.startswith(("SECURE_", "HWADMIN_"))}
    env.update(HWADMIN_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def production(tmp_path, **values):
    """DEBUG=0, a long random SECRET_KEY, ALLOWED_HOSTS set: what a deployment sets, nothing more."""
    return environment(
        tmp_path, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="hwadmin.example.com", **values
    )


def run_django(script, env):
    code = "import django\ndjango.setup()\n" + textwrap.dedent(script)
    env = {**env, "DJANGO_SETTINGS_MODULE": "hwadmin.settings"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


CHECK_DEPLOY = """
from django.core.management import call_command
from django.core.management.base import SystemCheckError
try:
    call_command("check", deploy=True, fail_level="WARNING")
except SystemCheckError as exc:
    print(exc)
    raise SystemExit(3)
print("DEPLOY CHECK CLEAN")
"""


def test_check_deploy_gives_no_warning_in_a_production_environment(tmp_path):
    result = run_django(CHECK_DEPLOY, production(tmp_path))
    assert result.returncode == 0 and "DEPLOY CHECK CLEAN" in result.stdout, result.stdout + result.stderr


def test_check_deploy_warns_when_an_operator_turns_a_protection_off(tmp_path):
    result = run_django(CHECK_DEPLOY, production(tmp_path, SESSION_COOKIE_SECURE="0", SECURE_HSTS_SECONDS="0"))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "security.W012" in result.stdout and "security.W004" in result.stdout


SHOW_SETTINGS = """
import json
from django.conf import settings
names = ["DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
         "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS",
         "SECURE_REFERRER_POLICY", "SECURE_PROXY_SSL_HEADER"]
print("SETTINGS " + json.dumps({name: getattr(settings, name) for name in names}))
"""


def shown_settings(env):
    result = run_django(SHOW_SETTINGS, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.split("SETTINGS ", 1)[1])


def test_debug_off_turns_every_protection_on_and_each_can_be_set(tmp_path):
    assert shown_settings(production(tmp_path)) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_PROXY_SSL_HEADER": None,
    }
    changed = shown_settings(
        production(
            tmp_path, SECURE_HSTS_SECONDS="600", SECURE_HSTS_PRELOAD="0", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"
        )
    )
    assert changed["SECURE_HSTS_SECONDS"] == 600 and changed["SECURE_HSTS_PRELOAD"] is False
    assert changed["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    custom = shown_settings(production(tmp_path, SECURE_PROXY_SSL_HEADER="X-Scheme=HTTPS"))
    assert custom["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_SCHEME", "HTTPS"]


def test_a_malformed_proxy_header_setting_stops_the_start_with_a_message(tmp_path):
    result = run_django("", production(tmp_path, SECURE_PROXY_SSL_HEADER="X Forwarded Proto"))
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER='X Forwarded Proto': give a header name such as X-Forwarded-Proto" in result.stderr


def test_without_debug_or_a_secret_key_the_service_refuses_to_start(tmp_path):
    result = run_django("", environment(tmp_path))
    assert result.returncode != 0 and "SECRET_KEY must be set when DEBUG is off" in result.stderr


ERROR_PAGES = """
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
print("DEBUG", settings.DEBUG)
client = Client(raise_request_exception=False)
with override_settings(ROOT_URLCONF="tests.moderation.boom_urls"):
    for path in ("/no-such-page/", "/boom/"):
        response = client.get(path, secure=True)
        print("PAGE", path, response.status_code, response.content.decode(errors="replace").replace("\\n", " "))
"""


def test_with_debug_unset_a_404_or_500_never_shows_a_debug_page(tmp_path):
    # The live incident: DEBUG forgotten, a SECRET_KEY set, and the debug page showed the broker's
    # password and the webhook URL's key to an anonymous visitor.
    env = environment(
        tmp_path,
        SECRET_KEY=secrets.token_urlsafe(64),
        CELERY_BROKER_URL="redis://:broker-pass-31337@127.0.0.1:6399/0",
        HWADMIN_WEBHOOK_URL="https://client.example.com/hooks?key=webhook-key-31337",
        HWADMIN_WEBHOOK_SECRET="webhook-secret-31337",
    )
    assert "DEBUG" not in env
    result = run_django(ERROR_PAGES, env)
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout
    pages = dict(line.split(" ", 2)[1:] for line in result.stdout.splitlines() if line.startswith("PAGE "))
    assert pages["/no-such-page/"].startswith("404 ") and pages["/boom/"].startswith("500 ")
    for page in pages.values():
        for secret in (
            "broker-pass-31337",
            "webhook-key-31337",
            "Traceback",
            "RuntimeError",
            "URLconf",
            "DEBUG = True",
            "an unexpected failure",
        ):
            assert secret not in page


# --- Content-Security-Policy ----------------------------------------------------------------------

REQUIRED_POLICY = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}


def policy(response):
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    return {d.split()[0]: set(d.split()[1:]) for d in header.split(";") if d.strip()}


@pytest.fixture
def reviewer(db):
    user = User.objects.create_user("csp-reviewer", password="pw-for-tests-only")
    user.groups.add(Group.objects.get(name="reviewers"))
    return user


def test_every_page_carries_a_strict_content_security_policy(client, reviewer):
    pages = [client.get("/login/")]
    client.force_login(reviewer)
    pages += [client.get(url) for url in ("/queue/unused/", "/dashboard/unused/", "/audit/", "/")]
    for response in pages:
        assert response.status_code == 200, response.request["PATH_INFO"]
        directives = policy(response)
        for name, sources in REQUIRED_POLICY.items():
            assert directives.get(name) == sources, (name, directives.get(name))
        # styles: static files only; style="..." attributes are the one inline thing allowed
        assert directives["style-src"] == {"'self'"} and "'unsafe-inline'" not in directives["script-src"]


def test_the_queue_page_loads_its_script_and_styles_from_static_files_served_by_the_web_process(client, reviewer):
    client.force_login(reviewer)
    page = client.get("/queue/unused/").content.decode()
    for asset in ("moderation/queue.js", "moderation/queue.css", "moderation/base.css"):
        url = static(asset)
        assert f'"{url}"' in page
        served = client.get(url)  # DEBUG is off: WhiteNoise serves it, not runserver
        assert served.status_code == 200, asset
        assert b"".join(served.streaming_content)
    assert 'data-release-url="/queue/unused/release"' in page or 'data-release-url="/queue/unused/' in page


def template_files():
    roots = [Path(d) for t in settings.TEMPLATES for d in t["DIRS"]]
    roots += [p for p in Path(settings.BASE_DIR).glob("*/templates") if ".venv" not in p.parts]
    files = [f for root in roots for f in root.rglob("*.html")]
    files += list(Path(settings.BASE_DIR, "moderation", "templatetags").glob("*.py"))  # HTML built in Python
    assert len(files) >= 8
    return files


def test_no_template_holds_inline_script_or_style_blocks():
    problems = []
    for path in template_files():
        text = path.read_text(encoding="utf-8")
        for attrs, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", text, flags=re.S | re.I):
            if body.strip() and "application/json" not in attrs:
                problems.append(f"{path}: inline <script> with code")
            elif not body.strip() and "src=" not in attrs:
                problems.append(f"{path}: <script> without src")
        if re.search(r"<style\b", text, flags=re.I):
            problems.append(f"{path}: <style> block (use a static CSS file)")
        if re.search(r"<[a-z][^>]*\son[a-z]+\s*=", text, flags=re.I):
            problems.append(f"{path}: inline event handler attribute")
        if "javascript:" in text.lower():
            problems.append(f"{path}: javascript: URL")
    assert problems == []


# --- The admin cannot change moderation state ------------------------------------------------------


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-tests-only"))
    return client


@pytest.fixture
def scored(db):
    check = Check.objects.get(code="unused")
    classifier = Classifier.objects.create(moderation_check=check, name="v1", path="/models/v1", is_active=True)
    inactive = Classifier.objects.create(moderation_check=check, name="v2", path="/models/v2")
    product = Product.objects.create(external_id="p-1", name="시카 크림", brand="브랜드", category="크림")
    review = Review.objects.create(
        source="test",
        external_id="r-1",
        product=product,
        rating=5,
        good_text="아직 안 써봤어요",
        written_at=timezone.now(),
    )
    score = Score.objects.create(review=review, moderation_check=check, classifier=classifier, probability=0.9)
    item = QueueItem.objects.create(
        review=review, moderation_check=check, probability=0.9, classifier=classifier, scored_at=timezone.now()
    )
    return {
        "check": check,
        "classifier": classifier,
        "inactive": inactive,
        "product": product,
        "review": review,
        "score": score,
        "item": item,
    }


def change(admin_client, obj, data):
    url = f"/admin/moderation/{obj._meta.model_name}/{obj.pk}/change/"
    response = admin_client.post(url, {"_save": "Save", **data})
    assert response.status_code in (200, 302, 403), response.status_code
    return response


def test_review_visibility_cannot_be_changed_in_the_admin(admin_client, scored):
    review = scored["review"]
    change(
        admin_client,
        review,
        {"visibility": "blinded", "good_text": "바뀐 글", "rating": "1", "product": scored["product"].pk},
    )
    review.refresh_from_db()
    assert review.visibility == "visible" and review.good_text == "아직 안 써봤어요" and review.rating == 5
    assert review.actions.count() == 0
    assert admin_client.get(f"/admin/moderation/review/{review.pk}/change/").status_code == 200  # still readable


def test_queue_items_and_scores_are_read_only_in_the_admin(admin_client, scored):
    item, score = scored["item"], scored["score"]
    response = change(
        admin_client,
        item,
        {"status": "blinded", "probability": "0.1", "decided_by": "1", "classifier": scored["inactive"].pk},
    )
    assert response.status_code == 403
    item.refresh_from_db()
    assert (item.status, item.probability, item.decided_by, item.classifier) == (
        "open",
        0.9,
        None,
        scored["classifier"],
    )
    assert change(admin_client, score, {"probability": "0.01"}).status_code == 403
    score.refresh_from_db()
    assert score.probability == 0.9
    assert admin_client.post(f"/admin/moderation/queueitem/{item.pk}/delete/", {"post": "yes"}).status_code == 403
    assert QueueItem.objects.filter(pk=item.pk).exists()
    assert admin_client.get(f"/admin/moderation/queueitem/{item.pk}/change/").status_code == 200  # still readable


def test_classifier_activation_and_path_are_read_only_but_the_name_is_not(admin_client, scored):
    inactive = scored["inactive"]
    change(
        admin_client,
        inactive,
        {
            "name": "v2 (renamed)",
            "is_active": "on",
            "path": "../elsewhere/model",
            "moderation_check": scored["check"].pk,
        },
    )
    inactive.refresh_from_db()
    assert inactive.name == "v2 (renamed)"
    assert not inactive.is_active and inactive.path == "/models/v2" and inactive.activated_at is None
    assert Classifier.objects.get(is_active=True) == scored["classifier"]
    assert admin_client.post("/admin/moderation/classifier/add/", {"name": "x", "path": "/x"}).status_code == 403


def test_product_and_check_names_stay_editable(admin_client, scored):
    product, check = scored["product"], scored["check"]
    change(
        admin_client,
        product,
        {"name": "시카 크림 100ml", "brand": "브랜드", "category": "크림", "external_id": "p-changed"},
    )
    product.refresh_from_db()
    assert product.name == "시카 크림 100ml" and product.external_id == "p-1"
    change(
        admin_client,
        check,
        {
            "name": "미사용 리뷰 (renamed)",
            "description": "",
            "reasons": json.dumps(check.reasons),
            "position": "0",
            "code": "changed",
        },
    )
    check.refresh_from_db()
    assert check.name == "미사용 리뷰 (renamed)" and check.code == "unused"
