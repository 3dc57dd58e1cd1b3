"""documents given with a query's answer: query_document

Revision ID: 0014_query_documents
Revises: 0013_evidence
Create Date: 2026-12-10 09:00:00

A new table linking an answer (a query_message) to the evidence documents it gives in support, those named
from the ones already attached and those attached with it. Nothing existing changes.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_query_documents'
down_revision = '0013_evidence'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'query_document',
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('document_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['query_message.id'], name='fk_query_document_message_id_query_message'),
        sa.ForeignKeyConstraint(['document_id'], ['evidence_document.id'],
                                name='fk_query_document_document_id_evidence_document'),
        sa.PrimaryKeyConstraint('message_id', 'document_id'),
    )


def downgrade() -> None:
    op.drop_table('query_document')
