"""Every test lands in exactly one tier, so `scripts/test.sh --fast` leaves out only what it means to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tier_of


class Collected:
    """What the tier hook reads of a collected test: its marks, fixtures, parameters and file."""

    def __init__(self, fixtures=(), params=None, marks=(), file="tests/test_example.py"):
        self.fixturenames = list(fixtures)
        self.marks = [getattr(pytest.mark, m).mark for m in marks]
        if params is not None:
            self.callspec = type("CallSpec", (), {"params": params})()
        self.fspath = Path(file)
        self.nodeid = f"{file}::test_example"

    def iter_markers(self):
        return iter(self.marks)

    def get_closest_marker(self, name):
        return next((m for m in self.marks if m.name == name), None)


@pytest.mark.parametrize("item, expected", [
    (Collected(), ("unit", False)),
    (Collected(fixtures=["tmp_path", "run_check"]), ("unit", False)),
    (Collected(fixtures=["service", "db_url", "tmp_path"], params={"db_url": "sqlite"}), ("integration", False)),
    (Collected(fixtures=["service", "db_url"], params={"db_url": "postgresql"}), ("integration", True)),
    (Collected(fixtures=["postgres_server"]), ("integration", True)),
    (Collected(fixtures=["prefect_harness"]), ("integration", False)),
    (Collected(file="tests/test_checkout_e2e.py"), ("e2e", False)),
    (Collected(marks=["integration"]), ("integration", False)),
    (Collected(fixtures=["db_url"], params={"db_url": "postgresql"}, marks=["e2e"]), ("e2e", True)),
], ids=["nothing", "workbooks", "sqlite", "postgresql-parameter", "postgresql-server", "prefect", "e2e-file",
        "marked", "marked-e2e-on-postgresql"])
def test_a_test_is_given_the_tier_its_marks_or_fixtures_say(item, expected):
    assert tier_of(item) == expected


def test_a_unit_test_that_uses_the_store_is_refused_by_name():
    with pytest.raises(pytest.UsageError, match=r"test_example is marked unit but uses \['service'\]"):
        tier_of(Collected(fixtures=["service"], marks=["unit"]))


def test_a_test_in_two_tiers_is_refused_by_name():
    with pytest.raises(pytest.UsageError, match=r"test_example is marked with more than one tier"):
        tier_of(Collected(marks=["unit", "e2e"]))


def test_every_collected_test_of_this_file_has_one_tier(request):
    """The hook has run by the time a test runs: this test carries the mark it was given."""
    tiers = [m.name for m in request.node.iter_markers() if m.name in ("unit", "integration", "e2e")]
    assert tiers == ["unit"]


# ---------------------------------------------------------------------- databases from a migrated template

@pytest.fixture
def template_made(request):
    """The session's template of this test's kind of database, made (once) before migrations are forbidden."""
    kind = request.node.callspec.params["db_url"]
    return request.getfixturevalue("migrated_sqlite" if kind == "sqlite" else "migrated_postgres")


@pytest.fixture
def migrations_forbidden(monkeypatch):
    """From here on, running Alembic fails the test: a test's database must come from the session's template."""
    import isap.store.db

    def upgrade(*_args, **_kwargs):
        raise AssertionError("a test's database was migrated on its own instead of copied from the template")

    monkeypatch.setattr(isap.store.db, "upgrade", upgrade)


def test_each_test_gets_a_migrated_copy_without_running_alembic(template_made, migrations_forbidden, db_url,
                                                                tmp_path):
    from sqlalchemy import text

    from isap.review.service import Service
    from isap.store.db import engine_for
    from isap.store.files import FileStore

    svc = Service(engine_for(db_url), FileStore(tmp_path / "files"))  # the schema is at head, or this raises
    svc.add_organisation("QUA", "NHS Black Country ICB")
    engine = engine_for(template_made)
    try:
        with engine.connect() as conn:  # the copy's rows are its own
            assert conn.execute(text("SELECT count(*) FROM organisation")).scalar_one() == 0
    finally:
        engine.dispose()  # PostgreSQL copies a template only while nobody is connected to it
        svc.engine.dispose()
