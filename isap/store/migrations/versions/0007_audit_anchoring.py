"""the audit history kept in order by the database; decisions and ratings insert-only and sealed

Revision ID: 0007_audit_anchoring
Revises: 0006_reference_per_organisation
Create Date: 2026-12-06 09:00:00

- auditevent.record: the seal of the record an event made (a decision and its
  ratings), covered by the event's hash.
- Every decision already recorded is sealed by one `decision_sealed` event,
  appended now, so `isap audit verify` covers it from here on.
- The database refuses an audit event whose id is not the next one, whose
  time is earlier than the last event's, or that does not link to the last
  event (on PostgreSQL it also gives the id itself: the sequence default goes,
  so an id chosen by the inserter can be told from one the database gave).
- Decisions and ratings are insert-only, as the history is: triggers refuse
  UPDATE, DELETE (and on PostgreSQL TRUNCATE).

Downgrading refuses while any event carries a seal: without the column those
events would no longer verify.
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007_audit_anchoring'
down_revision = '0006_reference_per_organisation'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
NEXT_ID = "audit history is append-only: an event takes the next id"
IN_ORDER = "audit history is append-only: an event cannot be dated before the one it follows"
LINKED = "audit history is append-only: an event must link to the last event"
KEPT = "decisions and ratings are kept as recorded: rows cannot be updated or deleted"
RECORDS = ("decision", "rating")


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch copy of the table: a copy would drop the append-only triggers on SQLite.
    op.add_column('auditevent', sa.Column('record', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))
    _seal_existing_decisions()
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # AFTER, not BEFORE: before the insert SQLite shows an id it is about to choose itself as -1.  Each
        # check reads the index from the new id down or up, never the whole table.
        before = "FROM auditevent WHERE id < NEW.id ORDER BY id DESC LIMIT 1"
        op.execute(
            "CREATE TRIGGER auditevent_in_order AFTER INSERT ON auditevent BEGIN "
            f"SELECT RAISE(ABORT, '{NEXT_ID}') WHERE NEW.id IS NOT coalesce((SELECT id {before}), 0) + 1 "
            "OR EXISTS (SELECT 1 FROM auditevent WHERE id > NEW.id); "
            f"SELECT RAISE(ABORT, '{IN_ORDER}') WHERE julianday(NEW.at) IS NULL "
            f"OR julianday(NEW.at) < (SELECT julianday(at) {before}); "
            f"SELECT RAISE(ABORT, '{LINKED}') WHERE NEW.prev_hash IS NOT coalesce((SELECT hash {before}), "
            f"'{GENESIS}'); "
            "END")
        for table in RECORDS:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{KEPT}'); END")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE auditevent ALTER COLUMN id DROP DEFAULT")
        op.execute(
            "CREATE FUNCTION isap_audit_in_order() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "DECLARE last auditevent%ROWTYPE; "
            "BEGIN "
            "SELECT * INTO last FROM auditevent ORDER BY id DESC LIMIT 1; "
            "IF NEW.id IS NULL THEN NEW.id := coalesce(last.id, 0) + 1; "
            f"ELSIF NEW.id IS DISTINCT FROM coalesce(last.id, 0) + 1 THEN RAISE EXCEPTION '{NEXT_ID}'; END IF; "
            f"IF NEW.at IS NULL OR NEW.at < last.at THEN RAISE EXCEPTION '{IN_ORDER}'; END IF; "
            f"IF NEW.prev_hash IS DISTINCT FROM coalesce(last.hash, '{GENESIS}') THEN "
            f"RAISE EXCEPTION '{LINKED}'; END IF; "
            "RETURN NEW; END $$")
        op.execute("CREATE TRIGGER auditevent_in_order BEFORE INSERT ON auditevent "
                   "FOR EACH ROW EXECUTE FUNCTION isap_audit_in_order()")
        op.execute("CREATE FUNCTION isap_record_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN RAISE EXCEPTION '{KEPT}'; END $$")
        for table in RECORDS:
            op.execute(f"CREATE TRIGGER {table}_insert_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION isap_record_refuse()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION isap_record_refuse()")


def _seal_existing_decisions() -> None:
    """Append one `decision_sealed` event per decision recorded before seals existed, chained like any other."""
    from isap.store.models import AUDIT_CHAIN_GENESIS, AuditEvent, Decision, Rating, decision_record

    bind = op.get_bind()
    # the columns as they were at this revision (later revisions add to the models)
    d_cols = [Decision.__table__.c[n] for n in ("id", "review_id", "proposal_id", "checkpoint", "outcome",
                                                 "rationale", "by", "at")]
    r_cols = [Rating.__table__.c[n] for n in ("id", "review_id", "domain", "rating")]
    decisions = [Decision(**r._mapping) for r in bind.execute(sa.select(*d_cols).order_by(d_cols[0]))]
    if not decisions:
        return
    ratings: dict[int, list] = {}
    for r in bind.execute(sa.select(*r_cols)):
        ratings.setdefault(r.review_id, []).append(Rating(**r._mapping))
    events = AuditEvent.__table__
    last = bind.execute(sa.select(events.c.id, events.c.hash, events.c.at).order_by(events.c.id.desc())
                        .limit(1)).first()
    last_id, prev = (last.id, last.hash) if last else (0, AUDIT_CHAIN_GENESIS)
    at = dt.datetime.now(dt.timezone.utc)
    if last is not None:
        last_at = last.at if last.at.tzinfo is not None else last.at.replace(tzinfo=dt.timezone.utc)
        at = max(at, last_at)
    for d in decisions:
        e = AuditEvent(proposal_id=d.proposal_id, action="decision_sealed", actor="isap", checkpoint=d.checkpoint,
                       reason="a decision recorded before decisions were sealed", at=at,
                       record=decision_record(d, ratings.get(d.review_id, [])))
        e.prev_hash, e.hash = prev, e.chain_digest(prev)
        last_id += 1
        bind.execute(events.insert().values(id=last_id, proposal_id=e.proposal_id, action=e.action, actor=e.actor,
                                            checkpoint=e.checkpoint, reason=e.reason, at=e.at, record=e.record,
                                            prev_hash=e.prev_hash, hash=e.hash))
        prev = e.hash


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM auditevent WHERE record IS NOT NULL")).scalar():
        raise RuntimeError("events carry seals of decisions: without 0007_audit_anchoring they would no longer "
                           "verify, so the history cannot be taken below it")
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS auditevent_in_order")
        for table in RECORDS:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS auditevent_in_order ON auditevent")
        op.execute("DROP FUNCTION IF EXISTS isap_audit_in_order()")
        for table in RECORDS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_insert_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS isap_record_refuse()")
        op.execute("SELECT setval('auditevent_id_seq', coalesce((SELECT max(id) FROM auditevent), 0) + 1, false)")
        op.execute("ALTER TABLE auditevent ALTER COLUMN id SET DEFAULT nextval('auditevent_id_seq')")
    op.drop_column('auditevent', 'record')
