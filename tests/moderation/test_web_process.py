"""The web process never imports torch or TensorFlow."""

import subprocess
import sys
import textwrap

from tests.tiny import ROOT


def test_serving_every_page_and_endpoint_imports_neither_torch_nor_tensorflow(tmp_path):
    script = textwrap.dedent(
        """
        import os, sys
        os.environ["DJANGO_SETTINGS_MODULE"] = "hwadmin.settings"
        import django
        django.setup()
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from django.test import Client
        from django.urls import get_resolver
        import hwadmin.urls, hwadmin.wsgi, moderation.admin  # everything the web process loads
        client = Client()
        for path in ["/", "/login/", "/admin/", "/api/v1/schema", "/api/v1/products/x/reviews"]:
            client.get(path)
        client.post("/api/v1/reviews", "{}", content_type="application/json")
        heavy = sorted(m for m in sys.modules
                       if m.split(".")[0] in {"torch", "tensorflow", "transformers", "keras", "kiwipiepy", "sklearn"})
        print("HEAVY:" + ",".join(heavy))
        """
    )
    env = {"HWADMIN_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    line = [l for l in result.stdout.splitlines() if l.startswith("HEAVY:")][0]
    assert line == "HEAVY:", f"the web process imported {line[6:]}"
