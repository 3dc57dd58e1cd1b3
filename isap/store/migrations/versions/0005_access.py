"""accounts an administrator can disable: app_user.disabled_at

Revision ID: 0005_access
Revises: 0004_shared_store
Create Date: 2026-12-13 09:00:00

Every existing account stays enabled (the column is empty).
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005_access'
down_revision = '0004_shared_store'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('app_user', sa.Column('disabled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('disabled_at')
