"""The README and docs/ cannot drift from the code: every `manage.py` command they show exists,
every flag shown with it is one of its options, and its `--help` renders."""

import re
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `manage.py NAME ...` up to the end of the (backslash-continued) line, a pipe, `&&`, `;` or a comment
INVOCATION = re.compile(r"manage\.py\s+([a-z_][a-z0-9_]*)((?:\\\n|[^\n|;#&`])*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def shown_invocations():
    """{command: {flag: [where, ...]}} for every `manage.py` command the docs show."""
    found = {}
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in INVOCATION.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            flags = found.setdefault(match.group(1), {})
            for flag in FLAG.findall(match.group(2)):
                flags.setdefault(flag, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


INVOCATIONS = shown_invocations()


def test_the_docs_show_commands():
    # the scan itself works: the README's own examples are found (a broken pattern finds nothing)
    assert {"register_classifier", "finetune_classifier", "pretrain_plm", "load_reviews"} <= set(INVOCATIONS)
    assert "--activate" in INVOCATIONS["register_classifier"]  # flags on the line, and on continued lines:
    assert "--num-train-steps" in INVOCATIONS["pretrain_plm"]


@pytest.mark.parametrize("command", sorted(INVOCATIONS))
def test_every_documented_command_and_flag_exists(command):
    commands = get_commands()
    assert command in commands, f"the docs show `manage.py {command}`, which does not exist"
    parser = load_command_class(commands[command], command).create_parser("manage.py", command)
    options = {option for action in parser._actions for option in action.option_strings}
    unknown = {flag: where for flag, where in INVOCATIONS[command].items() if flag not in options}
    assert not unknown, f"`manage.py {command}` has no option(s) {unknown} that the docs show"
    assert f"usage: manage.py {command}" in parser.format_help()
