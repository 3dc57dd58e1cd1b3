"""the review panel: reviewers' names, titles and bodies; declarations of interests; proposed decisions

Revision ID: 0012_panel
Revises: 0011_oversight
Create Date: 2026-12-20 09:00:00

- app_user.display_name, job_title, body: how letters and reports name a
  reviewer, and which national body they work for.
- rating.rated_by, rated_at: the panel member who rated a domain.
- decision.countersigned_by: the second reviewer whose countersignature made
  the decision take effect.
- declaration: each reviewer's declaration of interests in a proposal.
- proposed_decision: a decision proposed by the lead reviewer, until it is
  countersigned or sent back.

Every column is added with a plain ADD COLUMN, not a batch copy of the table: a
copy would drop the insert-only triggers of decision and rating on SQLite
(0007_audit_anchoring).  Existing rows keep empty values, so existing seals
still verify.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0012_panel'
down_revision = '0011_oversight'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, length in (("display_name", 120), ("job_title", 120), ("body", 30)):
        op.add_column('app_user', sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True))
    op.add_column('rating', sa.Column('rated_by', sa.Integer(), nullable=True))
    op.add_column('rating', sa.Column('rated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('decision', sa.Column('countersigned_by', sa.Integer(), nullable=True))
    op.create_table(
        'declaration',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('checkpoint', sa.Integer(), nullable=False),
        sa.Column('conflict', sa.Boolean(), nullable=False),
        sa.Column('organisation', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name='fk_declaration_proposal_id_proposal'),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name='fk_declaration_user_id_app_user'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_declaration_proposal_id', 'declaration', ['proposal_id'], unique=False)
    op.create_index('ix_declaration_user_id', 'declaration', ['user_id'], unique=False)
    op.create_table(
        'proposed_decision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('review_id', sa.Integer(), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=False),
        sa.Column('checkpoint', sa.Integer(), nullable=False),
        sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column('rationale', sa.Text(), nullable=False),
        sa.Column('conditions_json', sa.Text(), nullable=False),
        sa.Column('proposed_by', sa.Integer(), nullable=False),
        sa.Column('proposed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('closed_as', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column('closed_by', sa.Integer(), nullable=True),
        sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['review_id'], ['review.id'], name='fk_proposed_decision_review_id_review'),
        sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name='fk_proposed_decision_proposal_id_proposal'),
        sa.ForeignKeyConstraint(['proposed_by'], ['app_user.id'], name='fk_proposed_decision_proposed_by_app_user'),
        sa.ForeignKeyConstraint(['closed_by'], ['app_user.id'], name='fk_proposed_decision_closed_by_app_user'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_proposed_decision_review_id', 'proposed_decision', ['review_id'], unique=False)
    op.create_index('ix_proposed_decision_proposal_id', 'proposed_decision', ['proposal_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_proposed_decision_proposal_id', table_name='proposed_decision')
    op.drop_index('ix_proposed_decision_review_id', table_name='proposed_decision')
    op.drop_table('proposed_decision')
    op.drop_index('ix_declaration_user_id', table_name='declaration')
    op.drop_index('ix_declaration_proposal_id', table_name='declaration')
    op.drop_table('declaration')
    # plain DROP COLUMN (SQLite 3.35+), so the insert-only triggers of decision and rating stay
    op.drop_column('decision', 'countersigned_by')
    op.drop_column('rating', 'rated_at')
    op.drop_column('rating', 'rated_by')
    for name in ("body", "job_title", "display_name"):
        op.drop_column('app_user', name)
