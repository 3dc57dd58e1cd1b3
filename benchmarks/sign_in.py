"""How long a refused sign-in takes for a user name with an account and one without (`--only sign_in`).

Both must take the same time, or the refusal tells anyone which accounts
exist: the ratio of the medians (20 attempts each, interleaved) should be
close to 1.  Each known-name attempt is followed by an unlock, so the lockout
never cuts the measurement short.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

ATTEMPTS = 20


def bench_sign_in() -> list[dict]:
    from isap.review.service import Service, SignInRefused
    from isap.store.db import engine_for, upgrade
    from isap.store.files import FileStore

    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{Path(d) / 'sign-in.db'}"
        upgrade(url)
        svc = Service(engine_for(url), FileStore(Path(d) / "files"))
        svc.add_organisation("QUA", "NHS Black Country ICB")
        svc.add_user("alice", "commissioner", "QUA", password="correct horse")

        def took(name: str) -> float:
            start = time.perf_counter()
            try:
                svc.sign_in(name, "wrong")
            except SignInRefused:
                pass
            return time.perf_counter() - start

        took("nobody-warm-up")
        known, unknown = [], []
        for i in range(ATTEMPTS):
            known.append(took("alice"))
            svc.unlock("alice")
            unknown.append(took(f"nobody{i}"))
    k, u = statistics.median(known), statistics.median(unknown)
    return [{"benchmark": f"refused sign-in, a name without an account (median of {ATTEMPTS})",
             "reference": f"a name with an account (median of {ATTEMPTS})", "reference_s": round(k, 4),
             "measured_s": round(u, 4), "ratio": round(u / k, 3)}]


if __name__ == "__main__":
    print(bench_sign_in())
