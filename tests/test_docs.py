"""docs/rules.md is generated from the registry and must not be stale."""

from __future__ import annotations

from symcheck.docgen import rules_markdown
from symcheck.rules import RULES

from .conftest import ROOT


def test_rules_reference_is_current():
    current = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == rules_markdown(), "docs/rules.md is stale: run `python -m symcheck.docgen`"


def test_every_rule_is_documented_completely():
    assert list(RULES) == sorted(RULES)
    for r in RULES.values():
        assert r.severity in ("info", "warning", "error")
        assert r.name == r.name.lower() and " " not in r.name
        for text in (r.summary, r.why, r.example, r.fix):
            assert text and text.strip() == text


def test_api_examples_run():
    import doctest
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False,
                                  optionflags=doctest.ELLIPSIS)
    finally:
        os.chdir(cwd)
    assert result.attempted > 15 and result.failed == 0
