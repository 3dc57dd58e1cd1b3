"""a reference is unique within its lead commissioner's organisation: proposal (organisation_id, reference)

Revision ID: 0006_reference_per_organisation
Revises: 0005_access
Create Date: 2026-12-06 09:00:00

References were unique across England, so one organisation could take another's
reference first.  Existing rows already satisfy the new rule (a reference was
unique everywhere, so it is unique within each organisation): the upgrade only
swaps the unique index on the reference for a unique index on the pair.  Indexes
only, so SQLite does not rebuild the table (which its foreign keys would refuse
while versions point at it).  Going back fails, as it must, once two
organisations share a reference.

The outbox's rows name their proposal by id too (notification.proposal_id): a
decision letter rendered at delivery must find the one proposal meant.  Rows
already queued are given the id of the proposal their reference named, which
was then the only one.
"""
import sqlalchemy as sa
from alembic import op


revision = '0006_reference_per_organisation'
down_revision = '0005_access'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_proposal_reference', table_name='proposal')
    op.create_index('ix_proposal_reference', 'proposal', ['reference'], unique=False)
    op.create_index('uq_proposal_organisation_reference', 'proposal', ['organisation_id', 'reference'], unique=True)
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposal_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notification_proposal_id'), ['proposal_id'], unique=False)
        batch_op.create_foreign_key('fk_notification_proposal_id_proposal', 'proposal', ['proposal_id'], ['id'])
    op.execute("UPDATE notification SET proposal_id = (SELECT proposal.id FROM proposal "
               "WHERE proposal.reference = notification.proposal_reference) "
               "WHERE proposal_reference IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_constraint('fk_notification_proposal_id_proposal', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notification_proposal_id'))
        batch_op.drop_column('proposal_id')
    op.drop_index('uq_proposal_organisation_reference', table_name='proposal')
    op.drop_index('ix_proposal_reference', table_name='proposal')
    op.create_index('ix_proposal_reference', 'proposal', ['reference'], unique=True)
