"""the sign-in lockout reads only the attempts that count, from an index

Revision ID: 0015_sign_in_attempts_that_count
Revises: 0014_query_documents
Create Date: 2026-12-07 06:10:00

An index on sign_in_attempt (username, outcome, at): the lockout reads a name's failures, successes and
unlocks, never the attempts refused while it was locked out, however many of those someone has sent.
"""
from alembic import op


revision = '0015_sign_in_attempts_that_count'
down_revision = '0014_query_documents'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_signinattempt_username_outcome_at', 'signinattempt', ['username', 'outcome', 'at'])


def downgrade() -> None:
    op.drop_index('ix_signinattempt_username_outcome_at', table_name='signinattempt')
