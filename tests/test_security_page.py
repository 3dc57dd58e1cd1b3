"""The administrators' Security page (Streamlit's AppTest on a real database): failed sign-ins and the last
verification of the audit chain."""

from __future__ import annotations

import pytest

from tests.test_dashboard import demo_env, signed_in, texts  # noqa: F401 - demo_env is a fixture

pytestmark = pytest.mark.integration  # the store, through the dashboard


def test_administrators_see_failed_sign_ins_and_the_last_verification(demo_env):  # noqa: F811
    refused = signed_in("alice", "nope")
    assert "do not match" in texts(refused)
    at = signed_in("ada", "ada-demo")
    at.switch_page("views/security.py")
    at.run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Failed and refused sign-ins" in [h.value for h in at.subheader] and "not been verified yet" in shown
    by_name, frame = at.dataframe[0].value, at.dataframe[1].value
    assert list(by_name["User name"]) == ["alice"] and list(by_name["An account"]) == ["yes"]
    assert list(by_name["Failed"]) == [1]
    assert list(frame["User name"]) == ["alice"] and list(frame["What happened"]) == ["Wrong user name or password"]
    next(b for b in at.button if b.label == "Verify now").click()
    at.run()
    assert "events verified, head" in texts(at)

