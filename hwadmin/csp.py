"""Content-Security-Policy on every response.

A small middleware rather than django-csp: the policy is one fixed string
(settings.CONTENT_SECURITY_POLICY, overridable by the environment variable of
the same name), the same for every page. The templates hold no inline script
or <style> block (their script and CSS are static files), so the policy needs
no nonce. A view that sets its own Content-Security-Policy keeps it.
"""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    header = "Content-Security-Policy"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and self.header not in response:
            response[self.header] = policy
        return response
