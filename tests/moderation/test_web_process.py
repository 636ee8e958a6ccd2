"""The web process never imports torch or TensorFlow, and requirements/web.txt, which installs it,
holds neither and is enough for everything it imports."""

import json
import re
import subprocess
import sys
import textwrap
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.tiny import ROOT

HEAVY = {"torch", "tensorflow", "tensorflow-cpu", "transformers", "keras", "kiwipiepy", "scikit-learn", "onnxruntime"}


def test_serving_every_page_and_endpoint_imports_neither_torch_nor_tensorflow(tmp_path):
    script = textwrap.dedent(
        """
        import json, os, sys
        # A machine with requirements/web.txt only: the packages it does not install cannot be imported
        # (an optional import falls back, as it would there; a needed one fails this script).
        from importlib.machinery import PathFinder
        from importlib.metadata import packages_distributions
        allowed = set(json.loads(os.environ["WEB_DISTRIBUTIONS"]))
        canonical = lambda name: name.lower().replace("_", "-").replace(".", "-")
        blocked = {top for top, dists in packages_distributions().items()
                   if not any(canonical(d) in allowed for d in dists)}
        class NotInWebRequirements:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in blocked:
                    raise ModuleNotFoundError(f"No module named {name!r} (requirements/web.txt does not install it)",
                                              name=name)
                return None
        sys.meta_path.insert(0, NotInWebRequirements())
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
        # every URL: import each view, reverse and resolve it, and GET it
        from django.urls import NoReverseMatch, URLPattern, URLResolver, resolve, reverse
        from django.urls.converters import IntConverter
        def walk(patterns, namespace=""):
            for p in patterns:
                if isinstance(p, URLResolver):
                    yield from walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace)
                elif isinstance(p, URLPattern) and p.name:
                    yield namespace + p.name, getattr(p.pattern, "converters", {})
        resolved = 0
        for name, converters in walk(get_resolver().url_patterns):
            kwargs = {k: 1 if isinstance(c, IntConverter) else "unused" for k, c in converters.items()}
            try:
                url = reverse(name, kwargs=kwargs)
            except NoReverseMatch:
                continue
            resolve(url)
            client.get(url)
            resolved += 1
        assert resolved > 20, resolved
        for path in ["/healthz", "/metrics"]:
            client.get(path)
        heavy = sorted(m for m in sys.modules
                       if m.split(".")[0] in {"torch", "tensorflow", "transformers", "keras", "kiwipiepy", "sklearn"})
        print("HEAVY:" + ",".join(heavy))
        """
    )
    # production-like (DEBUG off), over plain HTTP so the pages are served rather than redirected
    env = {
        "HWADMIN_VAR_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "web-process-test-key",
        "SECURE_SSL_REDIRECT": "0",
        "WEB_DISTRIBUTIONS": json.dumps(sorted(installed_by(requirement_lines(ROOT / "requirements" / "web.txt")))),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    line = [row for row in result.stdout.splitlines() if row.startswith("HEAVY:")][0]
    assert line == "HEAVY:", f"the web process imported {line[6:]}"


def requirement_lines(path):
    """The requirement lines of a pip requirements file, following -r includes."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            lines += requirement_lines(path.parent / line[3:].strip())
        elif line:
            lines.append(line)
    return lines


def installed_by(lines):
    """The distributions these requirements install: themselves and their dependencies (from this
    virtualenv's metadata, with the extras asked for)."""
    seen, todo = set(), [Requirement(line) for line in lines]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        extras = {("", name)} | {(extra, name) for extra in requirement.extras}
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        for dependency in metadata.requires(name) or []:
            dependency = Requirement(dependency)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e, _ in extras):
                todo.append(dependency)
    return {name for name, _ in seen}


def pins(path):
    return {canonicalize_name(Requirement(line).name): line for line in requirement_lines(path)}


def test_the_web_requirements_hold_neither_torch_nor_tensorflow():
    web = pins(ROOT / "requirements" / "web.txt")
    assert web and not set(web) & HEAVY, f"requirements/web.txt installs {sorted(set(web) & HEAVY)}"
    assert not installed_by(web.values()) & HEAVY  # nor does anything it installs
    assert {"django", "gunicorn", "whitenoise", "prometheus-client", "celery", "psycopg"} <= set(web)
    worker = pins(ROOT / "requirements" / "worker.txt")
    assert set(web) < set(worker) and "torch" in worker


def test_the_role_files_and_requirements_txt_pin_the_same_packages():
    """requirements.txt (make install) is the whole set: workshop.txt plus test.txt, pin for pin."""
    whole = pins(ROOT / "requirements.txt")
    roles = {**pins(ROOT / "requirements" / "workshop.txt"), **pins(ROOT / "requirements" / "test.txt")}
    only_whole = sorted(whole[name] for name in set(whole) - set(roles))
    only_roles = sorted(roles[name] for name in set(roles) - set(whole))
    differ = sorted(f"{whole[n]} vs {roles[n]}" for n in set(whole) & set(roles) if whole[n] != roles[n])
    assert not (only_whole or only_roles or differ), (
        f"add {only_whole} to the right file under requirements/ (web.txt if the web process imports it, "
        f"worker.txt for scoring, workshop.txt, test.txt); add {only_roles} to requirements.txt; align {differ}"
    )
    assert whole["torch"] == "torch==2.13.0"
    assert re.search(r"^torch==2\.13\.0$", (ROOT / "requirements" / "worker.txt").read_text(), re.M)
