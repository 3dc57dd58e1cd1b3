"""decisions and ratings cannot be replaced on SQLite either

Revision ID: 0016_records_never_replaced
Revises: 0015_sign_in_attempts_that_count
Create Date: 2026-12-07 06:20:00

SQLite's INSERT OR REPLACE removes the row it clashes with without firing its delete triggers, so a decision
or rating could be replaced past the insert-only triggers of 0007_audit_anchoring. As the audit table already
does (0002_sessions_audit), an insert clashing with a kept row is refused before it is made. PostgreSQL has no
REPLACE; its ON CONFLICT DO UPDATE fires the update trigger, which refuses it.
"""
from alembic import op


revision = '0016_records_never_replaced'
down_revision = '0015_sign_in_attempts_that_count'
branch_labels = None
depends_on = None

KEPT = "decisions and ratings are kept as recorded: rows cannot be updated or deleted"
CLASHES = {"decision": "id = NEW.id OR review_id = NEW.review_id", "rating": "id = NEW.id"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, clash in CLASHES.items():
            op.execute(f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
                       f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {clash}) "
                       f"BEGIN SELECT RAISE(ABORT, '{KEPT}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in CLASHES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
