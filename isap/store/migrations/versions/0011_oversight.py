"""the checkpoint calendar and the national view: planned_submission, organisation.region, proposal key figures

Revision ID: 0011_oversight
Revises: 0010_queries
Create Date: 2026-12-07 09:00:00

A new table for the planned submission dates, a nullable region on each
organisation, and the Cover's key figures kept on each proposal for the
national view.  Only nullable columns are added, so SQLite adds them in place
(no table rebuild).  Proposals kept before this revision show no key figures
until their next version is uploaded: the figures were never stored.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0011_oversight'
down_revision = '0010_queries'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'planned_submission',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=False),
        sa.Column('checkpoint', sa.Integer(), nullable=False),
        sa.Column('planned_date', sa.Date(), nullable=False),
        sa.Column('proposed_by', sa.Integer(), nullable=False),
        sa.Column('proposed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('agreed_date', sa.Date(), nullable=True),
        sa.Column('agreed_by', sa.Integer(), nullable=True),
        sa.Column('agreed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name='fk_planned_submission_proposal_id_proposal'),
        sa.ForeignKeyConstraint(['proposed_by'], ['app_user.id'], name='fk_planned_submission_proposed_by_app_user'),
        sa.ForeignKeyConstraint(['agreed_by'], ['app_user.id'], name='fk_planned_submission_agreed_by_app_user'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('proposal_id', 'checkpoint', name='uq_planned_submission_checkpoint'),
    )
    op.create_index('ix_planned_submission_proposal_id', 'planned_submission', ['proposal_id'], unique=False)
    op.add_column('organisation', sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    op.create_index('ix_organisation_region', 'organisation', ['region'], unique=False)
    op.add_column('proposal', sa.Column('provider_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.add_column('proposal', sa.Column('integration_model', sqlmodel.sql.sqltypes.AutoString(length=40),
                                        nullable=True))
    op.add_column('proposal', sa.Column('annual_contract_value_gbp', sa.Float(), nullable=True))
    op.add_column('proposal', sa.Column('wpap_annual_value_gbp', sa.Float(), nullable=True))
    op.add_column('proposal', sa.Column('population_registered', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        for name in ('population_registered', 'wpap_annual_value_gbp', 'annual_contract_value_gbp',
                     'integration_model', 'provider_name'):
            batch_op.drop_column(name)
    op.drop_index('ix_organisation_region', table_name='organisation')
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('region')
    op.drop_index('ix_planned_submission_proposal_id', table_name='planned_submission')
    op.drop_table('planned_submission')
