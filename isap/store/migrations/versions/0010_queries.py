"""queries and waivers: review_query, query_message, waiver

Revision ID: 0010_queries
Revises: 0008_api_tokens
Create Date: 2026-12-08 12:00:00

New tables only; nothing existing changes.  A query's thread is its messages in order; a waiver keeps the
finding it was asked about (rule, place, message and fingerprint) and the reviewer's answer.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010_queries'
down_revision = '0008_api_tokens'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'review_query',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=False),
        sa.Column('checkpoint', sa.Integer(), nullable=False),
        sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('about', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('due_date', sa.Date(), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('raised_by', sa.Integer(), nullable=False),
        sa.Column('raised_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name='fk_review_query_proposal_id_proposal'),
        sa.ForeignKeyConstraint(['raised_by'], ['app_user.id'], name='fk_review_query_raised_by_app_user'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_review_query_proposal_id', 'review_query', ['proposal_id'], unique=False)
    op.create_table(
        'query_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('query_id', sa.Integer(), nullable=False),
        sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['query_id'], ['review_query.id'], name='fk_query_message_query_id_review_query'),
        sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], name='fk_query_message_author_id_app_user'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_query_message_query_id', 'query_message', ['query_id'], unique=False)
    op.create_table(
        'waiver',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=False),
        sa.Column('checkpoint', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('place', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('version_number', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('requested_by', sa.Integer(), nullable=False),
        sa.Column('requested_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('ruled_by', sa.Integer(), nullable=True),
        sa.Column('ruled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('ruling', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name='fk_waiver_proposal_id_proposal'),
        sa.ForeignKeyConstraint(['requested_by'], ['app_user.id'], name='fk_waiver_requested_by_app_user'),
        sa.ForeignKeyConstraint(['ruled_by'], ['app_user.id'], name='fk_waiver_ruled_by_app_user'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_waiver_proposal_id', 'waiver', ['proposal_id'], unique=False)
    op.create_index('ix_waiver_fingerprint', 'waiver', ['fingerprint'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_waiver_fingerprint', table_name='waiver')
    op.drop_index('ix_waiver_proposal_id', table_name='waiver')
    op.drop_table('waiver')
    op.drop_index('ix_query_message_query_id', table_name='query_message')
    op.drop_table('query_message')
    op.drop_index('ix_review_query_proposal_id', table_name='review_query')
    op.drop_table('review_query')
