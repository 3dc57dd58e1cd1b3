"""What chaining the audit history costs an upload (see benchmarks/run.py, `--only chain`).

The reference is the same upload with the chain's insert hook removed, in the
same run, on the same database: the ratio is what hashing and linking each
audit event (and, on PostgreSQL, the advisory lock) adds to keeping a version.
The workbook is checked once beforehand and its report passed in, so the ratio
is of the store's work, where the chain is; a whole upload (check included)
pays the same absolute cost against a much larger total.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from pathlib import Path

ROUNDS = 15
UPLOADS_PER_ROUND = 30


@contextlib.contextmanager
def _unchained():
    from sqlalchemy import event

    from isap.review import audit_chain
    from isap.store.models import AuditEvent

    event.remove(AuditEvent, "before_insert", audit_chain._link)
    try:
        yield
    finally:
        event.listen(AuditEvent, "before_insert", audit_chain._link)


def _measure(url: str, tmp: Path) -> dict:
    from isap.review.service import Service
    from isap.rules.engine import check_bytes
    from isap.store.db import engine_for, upgrade
    from isap.store.files import FileStore
    from sample_submissions.proposals import clean, write

    upgrade(url)
    svc = Service(engine_for(url), FileStore(tmp / "files"))
    svc.add_organisation("QUA", "NHS Black Country ICB")
    svc.add_user("alice", "commissioner", "QUA")
    data = write(clean(1, reference="ISAP-2026-090"), tmp / "w.xlsx").read_bytes()
    report = check_bytes(data, "w.xlsx", svc.policy)
    counter = iter(range(10**6))

    def one_round() -> float:
        start = time.perf_counter()
        for _ in range(UPLOADS_PER_ROUND):
            # distinct bytes, so each is a new version; the report stands for all of them
            svc.upload("alice", "w.xlsx", data + next(counter).to_bytes(4, "big"), report=report)
        return (time.perf_counter() - start) / UPLOADS_PER_ROUND

    one_round()  # warm up: the proposal exists, caches are filled
    chained, plain = [], []
    for i in range(ROUNDS):  # interleaved, each first in turn, so drift and growth hit both alike
        def unchained_round() -> None:
            with _unchained():
                plain.append(one_round())
        for run in ((lambda: chained.append(one_round())), unchained_round)[::1 if i % 2 else -1]:
            run()
    assert svc.verify_audit().ok is False  # the unchained uploads' events have no hash: the walk notices
    c, p = statistics.median(chained), statistics.median(plain)
    return {"chained_s": c, "unchained_s": p, "ratio": c / p}


def _row(kind: str, r: dict) -> dict:
    return {"benchmark": f"keeping an upload with the audit chain, {kind} (median per upload)",
            "reference": "the same upload without the chain", "reference_s": round(r["unchained_s"], 4),
            "measured_s": round(r["chained_s"], 4), "ratio": round(r["ratio"], 3)}


def bench_chain() -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as d:
        r = _measure(f"sqlite:///{Path(d) / 'chain.db'}", Path(d))
        out.append(_row("SQLite", r))
    try:
        from tests.pgserver import PostgresUnavailable, create_database, temporary_server
    except ImportError:  # pragma: no cover - benchmarks run from the source tree
        return out
    try:
        with temporary_server() as server, tempfile.TemporaryDirectory() as d:
            r = _measure(create_database(server, "bench_chain"), Path(d))
            out.append(_row("PostgreSQL", r))
    except PostgresUnavailable:
        pass
    return out


if __name__ == "__main__":
    for row in bench_chain():
        print(row)
