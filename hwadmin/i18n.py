"""Which language a request is answered in.

Reviewer pages: Django's LocaleMiddleware order, the language cookie that the header's switch sets
(`set_language`), then the browser's Accept-Language, then LANGUAGE_CODE (Korean by default).

The API (/api/): English unless the request's Accept-Language names a language we speak. Scripts
match, log and grep error messages, so their default must not change with a browser cookie or a
server default; a client that wants Korean messages sends `Accept-Language: ko`.
"""

from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

API_PREFIX = "/api/"
API_DEFAULT_LANGUAGE = "en"


def api_language(request):
    """The first language of the request's Accept-Language that we support, else English."""
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return API_DEFAULT_LANGUAGE


class LocaleMiddleware(DjangoLocaleMiddleware):
    def process_request(self, request):
        if request.path_info.startswith(API_PREFIX):
            translation.activate(api_language(request))
            request.LANGUAGE_CODE = translation.get_language()
            return
        super().process_request(request)
