"""Habits that keep the code tidy, checked on every run."""

import ast
import subprocess

from tests.tiny import ROOT

MAX_LINES = 500


def tracked_python_files():
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.split()]


def test_every_module_over_500_lines_says_why_at_its_top():
    files = tracked_python_files()
    assert len(files) > 100  # the listing worked
    unexplained = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        if source.count("\n") <= MAX_LINES or "/migrations/" in str(path):
            continue
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if not docstring.startswith(f"Over {MAX_LINES} lines:"):
            unexplained.append(str(path.relative_to(ROOT)))
    assert unexplained == [], f"modules over {MAX_LINES} lines without a one-line reason at the top: {unexplained}"
