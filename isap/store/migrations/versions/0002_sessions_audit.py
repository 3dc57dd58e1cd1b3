"""sign-in sessions and attempts; the audit history as a hash chain

Revision ID: 0002_sessions_audit
Revises: 0001
Create Date: 2026-11-23 08:30:00

Every existing audit event is chained here, in id order, so the whole history
is covered from the first event on.  On SQLite an insert that names an id
already in the audit table is refused (it would otherwise let `INSERT OR
REPLACE` rewrite a row).
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlmodel import Session


revision = '0002_sessions_audit'
down_revision = '0001'
branch_labels = None
depends_on = None

AUDIT_REFUSAL = "audit history is append-only: rows cannot be updated or deleted"  # as 0001 words it
REPLACE_REFUSAL = "audit history is append-only: an event with this id already exists"


def upgrade() -> None:
    op.create_table('signinsession',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('ended_reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('signinsession', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signinsession_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_signinsession_user_id'), ['user_id'], unique=False)

    op.create_table('signinattempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('signinattempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signinattempt_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_signinattempt_username'), ['username'], unique=False)

    # Plain ADD COLUMN, not a batch copy of the table: a copy would drop the append-only triggers on SQLite.
    op.add_column('auditevent', sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column('auditevent', sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index('ix_auditevent_hash', 'auditevent', ['hash'], unique=False)
    _chain_existing_events()
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TRIGGER auditevent_no_replace BEFORE INSERT ON auditevent "
                   "WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM auditevent WHERE id = NEW.id) "
                   f"BEGIN SELECT RAISE(ABORT, '{REPLACE_REFUSAL}'); END")


def _chain_existing_events() -> None:
    """Hash the events recorded before the chain existed (the only update the history ever gets)."""
    from isap.store.models import AUDIT_CHAIN_GENESIS, AuditEvent

    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER auditevent_no_update")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only")
    table = sa.table("auditevent", sa.column("id"), sa.column("prev_hash"), sa.column("hash"))
    prev = AUDIT_CHAIN_GENESIS
    # the columns as they are at this revision (the model may have more, added by later revisions)
    c = AuditEvent.__table__.c
    columns = [c.id, c.proposal_id, c.action, c.actor, c.from_state, c.to_state, c.checkpoint, c.reason, c.at]
    with Session(bind=bind) as s:
        for row in s.execute(sa.select(*columns).order_by(c.id)):
            e = AuditEvent(**row._mapping)
            digest = e.chain_digest(prev)
            bind.execute(sa.update(table).where(table.c.id == e.id).values(prev_hash=prev, hash=digest))
            prev = digest
    if dialect == "sqlite":
        op.execute("CREATE TRIGGER auditevent_no_update BEFORE UPDATE ON auditevent "
                   f"BEGIN SELECT RAISE(ABORT, '{AUDIT_REFUSAL}'); END")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE auditevent ENABLE TRIGGER auditevent_append_only")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_replace")
    op.drop_index('ix_auditevent_hash', table_name='auditevent')
    op.drop_column('auditevent', 'hash')
    op.drop_column('auditevent', 'prev_hash')
    with op.batch_alter_table('signinattempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signinattempt_username'))
        batch_op.drop_index(batch_op.f('ix_signinattempt_at'))
    op.drop_table('signinattempt')
    with op.batch_alter_table('signinsession', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signinsession_user_id'))
        batch_op.drop_index(batch_op.f('ix_signinsession_token_hash'))
    op.drop_table('signinsession')
