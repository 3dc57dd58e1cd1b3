"""personal API tokens: api_token

Revision ID: 0008_api_tokens
Revises: 0007_audit_anchoring
Create Date: 2026-12-06 12:00:00

A new table only; nothing existing changes.  Only each token's SHA-256 is kept.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008_api_tokens'
down_revision = '0007_audit_anchoring'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'api_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('secret_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('revoked_reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name='fk_api_token_user_id_app_user'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_api_token_secret_hash', 'api_token', ['secret_hash'], unique=True)
    op.create_index('ix_api_token_user_id', 'api_token', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_api_token_user_id', table_name='api_token')
    op.drop_index('ix_api_token_secret_hash', table_name='api_token')
    op.drop_table('api_token')
