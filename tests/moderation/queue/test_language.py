"""Korean reviewer pages, English one click away and remembered, an English API for scripts,
Korean number formats, and a complete, compiled Korean translation."""

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

from .conftest import csrf

LOCALE = Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES"
# the product pages' own catalogue (Django merges every app's catalogue with the project's)
ATTRIBUTES_LOCALE = Path(settings.BASE_DIR) / "attributes" / "locale" / "ko" / "LC_MESSAGES"


def test_pages_are_korean_by_default_even_for_an_english_browser(browser, make_review):
    make_review(0.93)
    html = browser.get("/queue/unused/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    # An English browser still gets English (Accept-Language is honoured) ...
    assert '<html lang="en">' in html and "Blind selected" in html
    # ... and without a preference, the reviewers' language.
    html = browser.get("/queue/unused/").content.decode()
    assert '<html lang="ko">' in html
    assert "선택 블라인드" in html and "Blind selected" not in html
    assert "검수 대기열" in html and "로그아웃" in html
    assert 'data-format="__N__개 선택"' in html  # queue.js's words, from the page (no inline script)
    assert 'data-label="좋은 점"' in html and "리뷰 #" in html
    assert '<div class="prob">0.930</div>' in html  # probabilities stay 0.93-style


def test_the_language_switch_is_a_csrf_protected_post_and_is_remembered(browser, make_review):
    make_review(0.9)
    html = browser.get("/queue/unused/").content.decode()
    assert 'action="/i18n/setlang/"' in html and 'name="language" value="en"' in html
    # each language named in itself, so that a reader of either finds theirs (not 영어 on a Korean page)
    assert 'lang="en" id="language-en">English</button>' in html and ">한국어</button>" in html
    assert browser.post("/i18n/setlang/", {"language": "en", "next": "/queue/unused/"}).status_code == 403  # no CSRF
    token = csrf(browser, "/queue/unused/")
    switched = browser.post(
        "/i18n/setlang/", {"language": "en", "next": "/queue/unused/", "csrfmiddlewaretoken": token}
    )
    assert switched.status_code == 302 and switched["Location"] == "/queue/unused/"
    assert browser.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    # Remembered on every page, over a Korean browser's Accept-Language.
    for url in ("/queue/unused/", "/dashboard/unused/", "/audit/", "/"):
        html = browser.get(url, HTTP_ACCEPT_LANGUAGE="ko-KR,ko").content.decode()
        assert '<html lang="en">' in html and "Log out" in html and "로그아웃" not in html, url
        assert ">한국어</button>" in html and "Korean" not in html, url
    token = browser.cookies["csrftoken"].value
    browser.post("/i18n/setlang/", {"language": "ko", "next": "/audit/", "csrfmiddlewaretoken": token})
    assert "감사 기록" in browser.get("/audit/").content.decode()


def test_the_login_page_is_korean_and_has_the_switch():
    html = Client().get("/login/").content.decode()
    assert "로그인" in html and "비밀번호" in html and 'id="language-switch"' in html


def test_flash_messages_follow_the_page_language(browser, make_review):
    review = make_review(0.9)
    token = csrf(browser, "/queue/unused/")
    done = browser.post(
        "/queue/unused/decide", {"review": [review.pk], "action": "keep", "csrfmiddlewaretoken": token}, follow=True
    )
    assert "리뷰 1건을 유지했습니다." in done.content.decode()
    undo = browser.post(
        "/undo", {"batch": "last", "csrfmiddlewaretoken": token}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "Reverted 1 review." in undo.content.decode()


def test_the_api_speaks_english_unless_asked(browser):
    # A browser session that chose Korean, and a script that says nothing: English for both.
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "ko"
    body = browser.get("/api/v1/queue", {"limit": "0"}).json()
    assert body["error"].startswith("limit must be a whole number")
    assert Client().get("/api/v1/queue").json()["error"] == "Authentication credentials were not provided."
    # Accept-Language asks for Korean: DRF's own messages and ours are translated.
    asked = browser.get("/api/v1/actions", {"batch": "x"}, HTTP_ACCEPT_LANGUAGE="ko")
    assert asked.status_code == 400 and asked["Content-Language"] == "ko"
    assert "인증" in Client().get("/api/v1/queue", HTTP_ACCEPT_LANGUAGE="ko-KR").json()["error"]


def test_numbers_have_thousands_separators_but_ids_and_links_do_not(browser, check, classifier, make_review):
    from moderation.models import QueueItem, Review

    product = make_review(0.5).product
    review = Review.objects.create(
        pk=123456,
        source="test",
        external_id="r-big",
        product=product,
        rating=5,
        good_text="숨긴 후기",
        written_at=product.reviews.first().written_at,
        visibility=Review.Visibility.BLINDED,
    )
    QueueItem.objects.create(
        review=review,
        moderation_check=check,
        probability=0.9,
        classifier=classifier,
        scored_at=review.written_at,
        status=QueueItem.Status.BLINDED,
    )
    html = browser.get("/queue/unused/blinded").content.decode()
    assert 'value="123456"' in html and "리뷰 #123456" in html and "123,456" not in html
    assert "받은 리뷰 2건" in browser.get("/").content.decode()


def test_numbers_on_the_dashboard_are_grouped(browser, check, make_review, settings):
    from moderation import dashboard

    make_review(0.95)
    summary = dashboard.summary(check)
    summary["pipeline"]["received"] = 1234567
    from django.core.cache import cache

    cache.set(f"moderation.dashboard.{check.pk}", summary, 60)
    html = browser.get("/dashboard/unused/").content.decode()
    assert ">1,234,567<" in html
    assert 'viewBox="0 0 640 204"' in html  # the chart's geometry is never localized
    assert "?p_min=0.5" in html


def read_po(path):
    """{(context, msgid): [msgstr, ...]} from a .po file (enough of the format for ours)."""
    entries, entry, field = {}, {}, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if "msgid" in entry:
                entries[(entry.get("msgctxt"), entry["msgid"])] = [
                    v for k, v in sorted(entry.items()) if k.startswith("msgstr")
                ]
            entry, field = {}, None
            continue
        if line.startswith("#"):
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) "(.*)"$', line)
        if match:
            field, text = match.groups()
            entry[field] = ""
        else:
            text = re.match(r'^"(.*)"$', line).group(1)
        entry[field] += text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
    return entries


@pytest.mark.parametrize("locale", [LOCALE, ATTRIBUTES_LOCALE], ids=["project", "attributes"])
def test_the_korean_translation_is_complete_and_compiled(locale):
    po = read_po(locale / "django.po")
    assert "#, fuzzy" not in (locale / "django.po").read_text(encoding="utf-8")  # a guess makemessages left
    untranslated = [key for key, strings in po.items() if key[1] and not all(strings)]
    assert untranslated == []
    # The committed .mo holds exactly the .po's translations (compile after editing the .po).
    with open(locale / "django.mo", "rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog
    for (context, msgid), strings in po.items():
        if not msgid:
            continue
        key = f"{context}\x04{msgid}" if context else msgid
        if (key, 0) in catalog:
            assert catalog[(key, 0)] == strings[0], msgid
        else:
            assert catalog.get(key) == strings[0], msgid
    if shutil.which("msgfmt"):
        subprocess.run(["msgfmt", "--check-format", "-o", "/dev/null", str(locale / "django.po")], check=True)


def test_every_reviewer_string_is_in_the_translation(tmp_path):
    """makemessages over the app finds no string the .po lacks (a new template string must be translated)."""
    for name in ("moderation", "templates", "hwadmin", "attributes"):
        ignore = shutil.ignore_patterns("__pycache__", "locale")  # every string lands in the scan's own catalogue
        shutil.copytree(Path(settings.BASE_DIR) / name, tmp_path / name, ignore=ignore)
    (tmp_path / "locale").mkdir()
    import os

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        with override_settings(LOCALE_PATHS=[tmp_path / "locale"]):  # never the real catalogue
            call_command("makemessages", locale=["ko"], no_location=True, verbosity=0)
    finally:
        os.chdir(here)
    found = set(read_po(tmp_path / "locale" / "ko" / "LC_MESSAGES" / "django.po"))
    assert {(None, "Blind selected"), (None, "full text"), (None, "Blinded %(n)s review.")} <= found  # the scan works
    assert (None, "Compare products") in found  # the product pages' templates are scanned too
    assert found - set(read_po(LOCALE / "django.po")) - set(read_po(ATTRIBUTES_LOCALE / "django.po")) == set()
