"""evidence documents: evidence_document, submissionversion.evidence_references

Revision ID: 0013_evidence
Revises: 0011_oversight
Create Date: 2026-12-09 09:00:00

A new table for the documents attached to a proposal for a checkpoint (their bytes are in the store of
originals, as a workbook's are), and a nullable column on each version for its evidence_reference values.
Versions kept before this revision have none recorded: the submit guard then finds no reference to match
until the next version is uploaded.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0013_evidence'
down_revision = '0012_panel'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'evidence_document',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=False),
        sa.Column('checkpoint', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('reference_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('document_type', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('attached_by', sa.Integer(), nullable=False),
        sa.Column('attached_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name='fk_evidence_document_proposal_id_proposal'),
        sa.ForeignKeyConstraint(['attached_by'], ['app_user.id'], name='fk_evidence_document_attached_by_app_user'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('proposal_id', 'reference_key', name='uq_evidence_document_reference'),
    )
    op.create_index('ix_evidence_document_proposal_id', 'evidence_document', ['proposal_id'], unique=False)
    op.create_index('ix_evidence_document_sha256', 'evidence_document', ['sha256'], unique=False)
    op.add_column('submissionversion', sa.Column('evidence_references', sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE submissionversion DROP COLUMN evidence_references')
    op.drop_index('ix_evidence_document_sha256', table_name='evidence_document')
    op.drop_index('ix_evidence_document_proposal_id', table_name='evidence_document')
    op.drop_table('evidence_document')
