"""declarations of interests are insert-only, as decisions and ratings are

Revision ID: 0017_declarations_kept
Revises: 0016_records_never_replaced
Create Date: 2026-12-07 15:20:00

The workflow's guards read a reviewer's declarations (a declared conflict bars them from the proposal), and
isap only ever adds one. Deleting a declared conflict let the reviewer declare none and take part, so the
database refuses to update, delete or replace a declaration, for every role but the owner's (the application
role is not granted UPDATE, DELETE or TRUNCATE either: `isap.store.db`).
"""
from alembic import op


revision = '0017_declarations_kept'
down_revision = '0016_records_never_replaced'
branch_labels = None
depends_on = None

KEPT = "declarations of interests are kept as declared: rows cannot be updated or deleted"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER declaration_no_{verb.lower()} BEFORE {verb} ON declaration "
                       f"BEGIN SELECT RAISE(ABORT, '{KEPT}'); END")
        # INSERT OR REPLACE removes the row it clashes with without firing delete triggers (0016)
        op.execute("CREATE TRIGGER declaration_no_replace BEFORE INSERT ON declaration "
                   "WHEN EXISTS (SELECT 1 FROM declaration WHERE id = NEW.id) "
                   f"BEGIN SELECT RAISE(ABORT, '{KEPT}'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION isap_declaration_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN RAISE EXCEPTION '{KEPT}'; END $$")
        op.execute("CREATE TRIGGER declaration_insert_only BEFORE UPDATE OR DELETE ON declaration "
                   "FOR EACH ROW EXECUTE FUNCTION isap_declaration_refuse()")
        op.execute("CREATE TRIGGER declaration_no_truncate BEFORE TRUNCATE ON declaration "
                   "FOR EACH STATEMENT EXECUTE FUNCTION isap_declaration_refuse()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("update", "delete", "replace"):
            op.execute(f"DROP TRIGGER IF EXISTS declaration_no_{verb}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS declaration_insert_only ON declaration")
        op.execute("DROP TRIGGER IF EXISTS declaration_no_truncate ON declaration")
        op.execute("DROP FUNCTION IF EXISTS isap_declaration_refuse()")
