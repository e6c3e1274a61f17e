"""Writing proposed rules into a hand-written spec keeps everything else as it was."""

from __future__ import annotations

import json

import pytest
import yaml

from pql.features.spec import parse_spec
from pql.features.spec_rules import SpecLayoutError, rules_written, with_rules
from tests.conftest import planted_spec

RULES = [{"name": "trigger_1", "when": "magic_count >= 3", "reason": "magic 3+ times"}]
HEADER = "proposed by `pql triggers` at day 7"


def spec_text(rules_block: str = "") -> str:
    text = yaml.safe_dump(planted_spec(), sort_keys=False)
    return f"# the planted product\n{text}{rules_block}# model settings\nmodel:\n  seed: 1\n"


def test_appends_when_absent_and_keeps_comments() -> None:
    original = "# the planted product\n" + yaml.safe_dump(planted_spec(), sort_keys=False)
    text = with_rules(original, RULES, HEADER)
    assert text.startswith(original.rstrip("\n"))
    assert yaml.safe_load(text)["rules"] == RULES
    parse_spec(yaml.safe_load(text))  # still a valid spec, rules checked against features


def test_replaces_an_existing_block_and_nothing_else() -> None:
    old = "rules:\n- name: old\n  when: login_count >= 1\n\n  # a comment inside\n"
    text = with_rules(spec_text(old), RULES, HEADER)
    parsed = yaml.safe_load(text)
    assert parsed["rules"] == RULES
    assert parsed["model"] == {"seed": 1}
    assert "# model settings\nmodel:" in text and text.startswith("# the planted product")
    assert "old" not in text
    # a second run replaces its own header too instead of stacking them
    again = with_rules(text, RULES, HEADER)
    assert again == text and again.count(HEADER) == 1


def test_flow_style_and_empty_rules() -> None:
    text = with_rules(spec_text("rules: []\n"), RULES, None)
    assert yaml.safe_load(text)["rules"] == RULES
    assert with_rules("", RULES, None).startswith("rules:\n")


def test_a_quoted_key_after_the_rules_is_kept() -> None:
    old = 'rules:\n- name: old\n  when: login_count >= 1\n"pql":\n  top_percent: 10\n'
    original = spec_text(old)
    text = rules_written(original, RULES, HEADER)
    assert yaml.safe_load(text)["pql"] == {"top_percent": 10}
    assert '"pql":\n  top_percent: 10\n' in text


def test_crlf_line_endings_and_earlier_headers() -> None:
    original = spec_text().replace("\n", "\r\n")
    once = rules_written(original, RULES, "proposed by `pql triggers` at day 3")
    assert "\r\n" in once and "\n" not in once.replace("\r\n", "")
    twice = rules_written(once, RULES, HEADER)
    assert twice.count("proposed by `pql triggers`") == 1 and HEADER in twice


@pytest.mark.parametrize(
    "layout",
    [
        lambda spec: json.dumps(spec),  # flow style: valid YAML, no block to replace
        lambda spec: "\n".join("  " + line for line in yaml.safe_dump(spec).split("\n")),
    ],
)
def test_layouts_a_line_edit_cannot_follow_are_refused(layout) -> None:
    original = layout({**planted_spec(), "rules": [{"name": "x", "when": "magic_count >= 1"}]})
    assert yaml.safe_load(original)["product"] == "planted"  # a valid spec to begin with
    with pytest.raises(SpecLayoutError, match="cannot be edited in place"):
        rules_written(original, RULES, HEADER)
