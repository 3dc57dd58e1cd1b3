"""The generated documents (docs/policy.md, docs/cli.md, docs/rules.md) say what the code says now.

Other changes add policy fields, commands and rules all the time; whoever adds one reruns the
generator, and these tests say so, with the command, until they have.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

from isap.policy import Policy
from scripts import gen_docs

ROOT = Path(__file__).resolve().parents[1]


def test_generated_documents_are_current():
    """Exactly what the generator's own --check runs, in a process of its own (help is drawn at a fixed
    width there, whatever this terminal is)."""
    done = subprocess.run([sys.executable, "-m", "scripts.gen_docs", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr or done.stdout


def test_a_stale_or_missing_document_is_named(tmp_path):
    current, stale, missing = tmp_path / "current.md", tmp_path / "stale.md", tmp_path / "missing.md"
    current.write_text("now\n")
    stale.write_text("before\n")
    assert gen_docs.stale_documents({current: "now\n", stale: "now\n", missing: "now\n"}) == [stale, missing]


def test_every_policy_field_is_described():
    """The policy reference is made from the fields' descriptions: a field without one is undocumented."""
    assert [f.name for f in dataclasses.fields(Policy) if not f.metadata["description"].strip()] == []


def test_the_documented_policy_file_is_usable_and_holds_every_default(tmp_path):
    text = gen_docs.policy_toml()
    assert set(tomllib.loads(text)["policy"]) == {f.name for f in dataclasses.fields(Policy)}
    (tmp_path / "isap-policy.toml").write_text(text, encoding="utf-8")
    assert Policy.from_toml(tmp_path / "isap-policy.toml") == Policy()
    # and the example of an override in the reference is a usable policy file too
    example = gen_docs.policy_markdown().split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.toml").write_text(example, encoding="utf-8")
    assert Policy.from_toml(tmp_path / "example.toml").working_capital_months == 2.0


def test_the_command_reference_walks_the_whole_command_tree():
    """Commands are found in the tree, nested groups included, not listed by hand."""
    paths = gen_docs.commands()
    assert paths[0] == () and ("check",) in paths and ("user", "sessions", "end") in paths
    assert len(paths) == len(set(paths))
    reference = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert all(f"## isap {' '.join(p)}".rstrip() + "\n" in reference for p in paths)


def test_the_defaults_are_what_checking_them_gives():
    """`Policy()` is not checked (the defaults are known good): checking them changes nothing."""
    from isap.policy import validated

    assert validated({}) == {f.name: getattr(Policy(), f.name) for f in dataclasses.fields(Policy)}
    assert Policy(**validated({})) == Policy()


def test_a_value_other_than_the_default_is_checked_and_typed():
    import pytest

    given = Policy(working_capital_months=2, mail_domains=["nhs.uk"], countersign_other_body=[3, 2, 3])
    assert given.working_capital_months == 2.0 and isinstance(given.working_capital_months, float)
    assert (given.mail_domains, given.countersign_other_body) == (("nhs.uk",), (2, 3))
    assert given.values()["working_capital_months"] == 2.0 and given.values()["mail_domains"] == ["nhs.uk"]
    with pytest.raises(ValueError, match="working_capital_months"):
        Policy(working_capital_months=0)
