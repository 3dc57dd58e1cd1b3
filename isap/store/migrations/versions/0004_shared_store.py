"""originals in the database and uploads staged for assurance: nothing needs a shared disk

Revision ID: 0004_shared_store
Revises: 0003_outbox
Create Date: 2026-12-06 04:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004_shared_store'
down_revision = '0003_outbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('original',
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('staged_upload',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('run_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('batch_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('report_json', sa.Text(), nullable=True),
    sa.Column('result_json', sa.Text(), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('refusal', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_staged_upload_run_key'), 'staged_upload', ['run_key'], unique=False)
    op.create_index(op.f('ix_staged_upload_batch_key'), 'staged_upload', ['batch_key'], unique=False)
    op.create_index(op.f('ix_staged_upload_state'), 'staged_upload', ['state'], unique=False)
    op.create_index(op.f('ix_staged_upload_created_at'), 'staged_upload', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('staged_upload')
    op.drop_table('original')
