"""Shared fixtures: sample workbooks are generated once per session into a temp dir."""

from __future__ import annotations

import functools
import importlib.abc
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Every process the tests start carries this run's mark in its environment (children inherit it), so the
# session can find them even after they have been orphaned and adopted by init.
RUN_MARK = "ISAP_TEST_RUN"
os.environ[RUN_MARK] = uuid.uuid4().hex

_RUNNER = os.getpid()


def _an_authority_nobody_holds() -> str:
    """A PEM file holding one certificate authority whose key was thrown away as it was made.

    Each Prefect client loads the certificate authorities it trusts as it is made, certifi's 150 of them by default
    (30 ms; a flow run makes several clients, and a dashboard test several flow runs). Every Prefect API the tests
    start is plain HTTP on loopback, so their clients are told to trust this one instead: as fast to load, and no
    server anywhere can show a certificate it signed."""
    import atexit
    import datetime as dt
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test run authority, key discarded")])
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    fd, path = tempfile.mkstemp(prefix="isap-test-authority-", suffix=".pem")
    with os.fdopen(fd, "wb") as fh:
        fh.write(certificate.public_bytes(serialization.Encoding.PEM))
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    return path


if "PREFECT_API_SSL_CERT_FILE" not in os.environ:
    os.environ["PREFECT_API_SSL_CERT_FILE"] = _an_authority_nobody_holds()


def _stop_as_interrupted(signum, frame):
    """A run stopped from outside (SIGTERM: a CI time limit, a `kill`) ends as Ctrl-C ends it: pytest tears its
    fixtures down, so the servers they started stop too (the session's Prefect test server has no other way to
    learn that the run is over, and outlived a terminated run)."""
    if os.getpid() != _RUNNER:  # a child forked from the runner ends as SIGTERM would have ended it
        os._exit(128 + signum)
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _stop_as_interrupted)


def _started_by_this_run() -> list:
    import psutil

    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    mark = os.environ[RUN_MARK]
    for p in psutil.process_iter():
        if p.pid == me.pid or p.pid in found:
            continue
        try:
            if p.environ().get(RUN_MARK) == mark:
                found[p.pid] = p
        except (psutil.Error, OSError):
            continue
    return [p for p in found.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
            and not _ends_with_pytest(p)]


def _ends_with_pytest(p) -> bool:
    """Python's multiprocessing resource tracker (started by Dask's local clusters) and the forkserver that
    starts this process's isolated checks read a pipe from this process and exit when it closes, that is
    when pytest exits: they cannot outlive the run."""
    try:
        command = " ".join(p.cmdline())
        if "from multiprocessing.resource_tracker import main" in command:
            return True
        return "from multiprocessing.forkserver import main" in command and p.ppid() == os.getpid()
    except Exception:  # noqa: BLE001 - gone already
        return True


# ---------------------------------------------------------------------- tiers

# Every test is in exactly one tier (CONTRIBUTING.md):
#   unit         pure functions, the state table, the rules on workbooks, the formats;
#   integration  the store (SQLite; PostgreSQL also marked `postgres`), flows, the sandbox, the dashboard's AppTest;
#   e2e          a real browser, real Prefect servers, LibreOffice and Gnumeric, processes killed from outside.
# A module or test may say its tier (`pytestmark = pytest.mark.e2e`); otherwise the fixtures it uses decide, so a
# new test file has a tier without anyone remembering to give it one, and `scripts/test.sh --fast` never
# silently leaves it out.
TIERS = ("unit", "integration", "e2e")
# fixtures that give a test a database, a Prefect server or the file store: the test is integration at least
INTEGRATION_FIXTURES = frozenset({"db_url", "service", "postgres_server", "prefect_harness", "migrated_sqlite",
                                  "migrated_postgres", "demo_sqlite"})
# fixtures that reach a PostgreSQL server, and parameters that choose one
POSTGRES_FIXTURES = frozenset({"postgres_server", "migrated_postgres"})
POSTGRES_PARAMETER = "postgresql"


def tier_of(item) -> tuple[str, bool]:
    """The tier a collected test belongs to, and whether it needs PostgreSQL; a UsageError names the test when
    it claims two tiers, or claims `unit` while using a database or server."""
    claimed = [name for name in TIERS if item.get_closest_marker(name) is not None]
    if len({m.name for m in item.iter_markers() if m.name in TIERS}) > 1:
        raise pytest.UsageError(f"{item.nodeid} is marked with more than one tier: "
                                f"{sorted({m.name for m in item.iter_markers() if m.name in TIERS})}")
    fixtures = set(getattr(item, "fixturenames", ()))
    params = getattr(getattr(item, "callspec", None), "params", {})
    postgres = bool(fixtures & POSTGRES_FIXTURES) or POSTGRES_PARAMETER in params.values()
    needs_store = postgres or bool(fixtures & INTEGRATION_FIXTURES)
    if claimed:
        tier = claimed[0]
        if tier == "unit" and needs_store:
            raise pytest.UsageError(f"{item.nodeid} is marked unit but uses "
                                    f"{sorted(fixtures & (INTEGRATION_FIXTURES | POSTGRES_FIXTURES)) or 'PostgreSQL'}"
                                    ": mark it integration")
    elif Path(str(item.fspath)).stem.endswith("_e2e"):
        tier = "e2e"
    else:
        tier = "integration" if needs_store else "unit"
    return tier, postgres


# The e2e tier runs on a pytest-xdist worker per core a module at a time (`--dist loadscope`, scripts/test.sh: a
# module's servers and costly files are made once, on one worker), each worker taking the next module as it
# finishes one; so the modules that take longest go first: a two-minute module taken last would run alone at the
# end while the other core waits (durations in docs/performance.md).  Other modules follow in their own order.
# pytest-xdist hands out modules in the order collected only with `--no-loadscope-reorder` (scripts/test.sh); by
# default it reorders them by how many tests each holds, and a module of one two-minute test went anywhere.
LONGEST_FIRST = ("test_dashboard_e2e", "test_resource_limits_e2e", "test_multi_machine", "test_readme",
                 "test_dashboard_a11y_e2e", "test_checkpoint_two_pair_e2e", "test_dashboard_journeys_e2e",
                 "test_fair_share", "test_roundtrip", "test_api_server", "test_flows", "test_letters", "test_processes",
                 "test_prefect_server", "test_evidence_e2e", "test_faults", "test_sessions_e2e",
                 "test_policy_everywhere", "test_other_organisations", "test_safety_e2e")


def pytest_collection_modifyitems(config, items):
    first, order = {name: n for n, name in enumerate(LONGEST_FIRST)}, {}
    for item in items:
        tier, postgres = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))
        if postgres and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)
        order[item] = first.get(Path(str(item.fspath)).stem, len(first)) if tier == "e2e" else len(first)
    items.sort(key=order.__getitem__)  # stable: the other tiers keep their order, and a module stays whole


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_tests():
    """Fail the session if any process the tests started is still running once every other fixture is done.

    Autouse and session-scoped, so it is set up first and torn down last.
    Whatever is found is killed after it is reported, so a failing run does not
    leave servers behind either.
    """
    yield
    import time

    import psutil

    from isap.workbook import isolation

    isolation.shutdown()  # the isolated-check children of this process, stopped as at exit

    deadline = time.monotonic() + 10  # processes told to stop may take a moment
    while (left := _started_by_this_run()) and time.monotonic() < deadline:
        time.sleep(0.25)
    described = []
    for p in left:
        try:
            described.append(f"{p.pid} {' '.join(p.cmdline())[:200]}")
            for child in p.children(recursive=True):
                child.kill()
            p.kill()
        except psutil.Error:
            pass
    assert not described, "processes started by the tests are still running:\n  " + "\n  ".join(described)


@pytest.fixture(scope="session")
def template_path(tmp_path_factory) -> Path:
    from isap.workbook.blank_template import write_template

    p = tmp_path_factory.mktemp("template") / "template.xlsx"
    write_template(p)
    return p


def findings_of(report, rules: set[str] | None = None) -> list[tuple]:
    return [(f.rule_id, f.sheet, f.cell) for f in report.findings if rules is None or f.rule_id in rules]


@pytest.fixture
def run_check(tmp_path):
    """Write a proposal (dict) as a workbook and check it; returns the CheckReport."""
    from isap.rules.engine import check_file
    from sample_submissions.proposals import write

    counter = iter(range(10**6))

    def run(proposal, layout=None, checkpoint=None, policy=None, select=()):
        path = write(proposal, tmp_path / f"w{next(counter)}.xlsx", layout)
        return check_file(path, policy, checkpoint, select)

    return run


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory) -> Path:
    from sample_submissions.generate import generate

    out = tmp_path_factory.mktemp("samples")
    generate(out)
    return out


# ---------------------------------------------------------------------- databases

@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on loopback for the session (or ISAP_TEST_POSTGRES_URL)."""
    from tests.pgserver import PostgresUnavailable, temporary_server

    try:
        with temporary_server() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))




@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> str:
    """A SQLite database brought to the latest schema once for the session: the template of every test's copy
    (Alembic takes seconds; a copy, milliseconds)."""
    from isap.store.db import engine_for, upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('template-db') / 'isap.db'}"
    upgrade(url)
    engine_for(url).dispose()
    return url


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server) -> str:
    """A PostgreSQL database brought to the latest schema once for the session: the template of every test's."""
    from isap.store.db import engine_for, upgrade
    from tests.pgserver import create_database

    url = create_database(postgres_server, "isap_template_" + uuid.uuid4().hex[:8])
    upgrade(url)
    engine_for(url).dispose()  # CREATE DATABASE … TEMPLATE needs it to have no connection
    return url


def copy_sqlite(template_url: str, to: Path) -> str:
    """A copy of a SQLite database (through SQLite's backup, so a write-ahead log is copied too); its URL."""
    import sqlite3

    source, target = sqlite3.connect(template_url.removeprefix("sqlite:///")), sqlite3.connect(to)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return f"sqlite:///{to}"


def migrated_data_dir(template_url: str, data_dir: Path) -> Path:
    """`data_dir` as ISAP_DATA_DIR with its embedded database at the latest schema: a copy of the session's
    migrated template (what `isap db upgrade` would make there, in milliseconds instead of seconds)."""
    from isap.private import private_dir

    copy_sqlite(template_url, private_dir(data_dir) / "isap.db")
    (data_dir / "isap.db").chmod(0o600)
    return data_dir


@pytest.fixture(scope="session")
def demo_sqlite() -> str:
    """A SQLite database holding the demo data, loaded once for the run: the template of every dashboard test's
    store (demo_store_template)."""
    return demo_store_template()


# The run's temporary-folder factory, for the templates below: built on first use (a run that needs none builds
# none), once for the whole run however many pytest-xdist workers ask.
_RUN: dict = {}


@pytest.fixture(scope="session", autouse=True)
def templates_know_the_run(request, tmp_path_factory):
    """Hands the templates below the run's folder factory; and where this session will start a Prefect server (a
    test of the e2e tier, or one using the Prefect harness, is among its tests), begins migrating the run's Prefect
    database at once, in the background, so the first such test does not wait the ten seconds it takes: it waits
    only for what is left of it. A run of other tests builds nothing."""
    import threading

    _RUN["factory"] = tmp_path_factory
    tmp_path_factory.getbasetemp()  # made here, once: making it is not safe from two threads at once
    early = None
    if any("prefect_harness" in item.fixturenames or item.get_closest_marker("e2e")
           for item in request.session.items):
        def build() -> None:
            try:
                prefect_database_template()
            except Exception:  # noqa: BLE001 - the test that needs it builds it again and reports what failed
                pass

        early = threading.Thread(target=build, name="prefect-database-template", daemon=True)
        early.start()
    yield
    if early is not None:
        early.join()  # its migration process ends before the session's check that none is left running


def demo_store_template() -> str:
    """The URL of a SQLite database holding the demo data, as `isap db upgrade` and `isap demo load` leave it.
    Loading it checks a dozen workbooks and hashes seven passwords (seconds); a copy takes milliseconds. Its
    passwords are hashed at argon2's least cost (cheap_hashing_policy): a sign-in verifies with the cost stored
    in the hash, so each sign-in is cheap too.  A newcomer's own first start (nothing copied) is the README's
    test and test_dashboard_start's."""
    from isap.demo import load
    from isap.review.service import Service
    from isap.store.db import engine_for, upgrade

    def build(path: Path) -> None:
        url = f"sqlite:///{path}"
        upgrade(url)
        engine = engine_for(url)
        try:
            assert load(Service(engine, policy=cheap_hashing_policy())), "the demo loads into an empty store"
        finally:
            engine.dispose()

    return f"sqlite:///{built_once(_RUN['factory'], 'demo.db', build)}"


def prefect_database_template() -> Path:
    """Prefect's own SQLite database at its latest schema, migrated once for the run.  A Prefect server started
    on a new database migrates it first (about 11 s of processor time on these machines, and 18 s to answer
    against 4 s); a test's server starts on a copy instead (seed_prefect_home)."""
    import subprocess

    def build(path: Path) -> None:
        home = path.parent / (path.name + ".home")
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
        subprocess.run([sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"], env=env,
                       check=True, capture_output=True, timeout=600)
        (home / "prefect.db").rename(path)

    return built_once(_RUN["factory"], "prefect.db", build)


def seed_prefect_home(home: Path) -> Path:
    """`home` as a PREFECT_HOME whose database is already at the latest schema: a copy of the run's template (a
    Prefect server started there answers in seconds instead of migrating a new database first)."""
    import shutil

    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(prefect_database_template(), home / "prefect.db")
    return home


def seed_demo_data_dir(data_dir: Path) -> Path:
    """`data_dir` as an ISAP_DATA_DIR holding the demo data and, in its `prefect` folder (where `isap dashboard`
    keeps Prefect's database), a migrated Prefect database: what a first `isap dashboard` start would find after
    `isap db upgrade` and `isap demo load` and Prefect's own first start."""
    migrated_data_dir(demo_store_template(), data_dir)
    seed_prefect_home(data_dir / "prefect")
    return data_dir


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A file `build` writes once for the whole run, however many pytest-xdist workers need it: the first to ask
    builds it (in a file of its own, then renamed), the others wait on a lock and use it.  Each worker has a
    temporary folder of its own under the run's; the file lives in the run's, so a later run builds it again."""
    import fcntl
    import threading

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            building = root / f"{name}.{os.getpid()}.{threading.get_ident()}.building"  # (one thread's try)
            build(building)
            building.rename(target)
    return target


def restore_sqlite(template_url: str, to: Path) -> str:
    """The SQLite database at `to` made a copy of the template again, in place; its URL.

    The file, and so the URL, stays the same from test to test: `engine_for` hands every test the same engine,
    which has compiled each statement once (SQLAlchemy compiles a statement once per engine; a new engine per
    test spent most of each query compiling it again). The engine's connections are closed first, so none reads
    the file as it was."""
    from isap.store.db import engine_for

    url = f"sqlite:///{to}"
    engine_for(url).dispose()
    copy_sqlite(template_url, to)
    return url


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory) -> Path:
    """Where each test's SQLite database (db_url) is: one file for the session, restored for every test."""
    return tmp_path_factory.mktemp("store") / "isap.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh database of each kind at the latest schema for one test: a copy of the session's template (on
    SQLite, restored into the session's one file: restore_sqlite)."""
    if request.param == "sqlite":
        return restore_sqlite(request.getfixturevalue("migrated_sqlite"), request.getfixturevalue("sqlite_store"))
    from tests.pgserver import create_database

    template = request.getfixturevalue("migrated_postgres").rsplit("/", 1)[1]
    return create_database(request.getfixturevalue("postgres_server"), "t_" + uuid.uuid4().hex[:12], template)


def cheap_hashing_policy(**values):
    """The policy the tests' service runs under: the defaults, but password hashes at argon2's least cost (each
    production hash takes 64 MiB and a noticeable fraction of a second, and the suite makes thousands)."""
    from isap.policy import Policy

    return Policy(**{"password_hash_time_cost": 1, "password_hash_memory_kib": 8, "password_hash_parallelism": 1,
                     **values})


@pytest.fixture
def service(db_url, tmp_path):
    from isap.review.service import Service
    from isap.store.db import engine_for
    from isap.store.files import FileStore

    svc = Service(engine_for(db_url), FileStore(tmp_path / "files"), cheap_hashing_policy())
    svc.add_organisation("QUA", "NHS Black Country ICB")
    svc.add_organisation("QHM", "NHS North East and North Cumbria ICB")
    svc.add_user("alice", "commissioner", "QUA", password="correct horse")
    svc.add_user("otto", "commissioner", "QHM")
    svc.add_user("rita", "reviewer", display_name="Rita Shah", job_title="Senior Assurance Lead", body="nhs_england")
    svc.add_user("ada", "admin")
    return svc


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One temporary Prefect server for the session (flows and dashboard uploads run through it)."""
    home = tmp_path_factory.mktemp("prefect-home")
    settings = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
                "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
                # as isap's own Prefect server (isap.orchestration.processes): no blocks to register
                "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
                "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false"}
    old = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    import shutil
    import tempfile

    from prefect.testing import utilities

    template = prefect_database_template()

    def seeded_folder() -> str:
        # the harness makes its database folder with mkdtemp and its database there as prefect-test.db: a copy
        # of the run's migrated one starts the server in seconds
        folder = tempfile.mkdtemp()
        shutil.copyfile(template, Path(folder) / "prefect-test.db")
        return folder

    utilities.mkdtemp = seeded_folder
    try:
        with utilities.prefect_test_harness(server_startup_timeout=90):
            yield
    finally:
        utilities.mkdtemp = tempfile.mkdtemp
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _scan_for_components_once(scanner) -> None:
    if not hasattr(scanner.scan_component_manifests, "cache_info"):
        scanner.scan_component_manifests = functools.cache(scanner.scan_component_manifests)


def _compile_each_page_once(script_cache) -> None:
    if hasattr(script_cache.ScriptCache.get_bytecode, "kept"):
        return
    compile_page = script_cache.ScriptCache.get_bytecode
    from streamlit import config

    kept: dict = {}

    def get_bytecode(self, script_path: str):
        path = os.path.abspath(script_path)
        on_disk = os.stat(path)
        key = (path, on_disk.st_size, on_disk.st_mtime_ns, config.get_option("runner.magicEnabled"),
               config.get_option("magic.displayRootDocString"),
               config.get_option("magic.displayLastExprIfNoSemicolon"))
        if key not in kept:
            kept[key] = compile_page(self, script_path)
        return kept[key]

    get_bytecode.kept = kept
    script_cache.ScriptCache.get_bytecode = get_bytecode


# module → what is done to it as it is imported (streamlit_scans_for_components_once)
_STREAMLIT_ONCE = {"streamlit.components.v2.manifest_scanner": _scan_for_components_once,
                   "streamlit.runtime.scriptrunner.script_cache": _compile_each_page_once}


class _AsImported(importlib.abc.MetaPathFinder):
    """Finds the modules of `_STREAMLIT_ONCE` as the other finders would, and changes each once it has run."""

    def find_spec(self, name, path, target=None):
        if name not in _STREAMLIT_ONCE:
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else getattr(finder, "find_spec", lambda *a: None)(name, path, target)
            if spec is not None:
                loader, change = spec.loader, _STREAMLIT_ONCE[name]

                class Then(importlib.abc.Loader):
                    def create_module(self, spec):
                        return loader.create_module(spec)

                    def exec_module(self, module):
                        loader.exec_module(module)
                        change(module)

                spec.loader = Then()
                return spec
        return None


@pytest.fixture(scope="session", autouse=True)
def streamlit_scans_for_components_once():
    """What a Streamlit server does once, its AppTest does at every step; each is done once a process and its
    answer kept, from the moment Streamlit is loaded (kept only from a process's second test on, the first test
    to load it paid in full: 0.35-0.45 s for each new AppTest's first run, against 0.01 s):

    - each new AppTest scans the metadata of every installed distribution for components (most of a short page
      test's processor time); nothing is installed during a run;
    - each `AppTest.run()` compiles every page script it runs again, through Streamlit's "magic" rewriting of
      the syntax tree (a sixth of the dashboard tests' processor time), where a server compiles a page once and
      keeps its code. The code is kept for the script as it is on disk (its path, size and modification time)
      and the magic settings it was compiled under."""
    for name, change in _STREAMLIT_ONCE.items():
        if name in sys.modules:
            change(sys.modules[name])
    finder = _AsImported()
    sys.meta_path.insert(0, finder)
    yield
    sys.meta_path.remove(finder)


@pytest.fixture(autouse=True)
def main_module_ends_with_its_test():
    """Streamlit's AppTest runs a page as `__main__` and leaves it there: a process spawned later in the session
    (a Dask worker) would re-run that page, a temporary script by then, as its own main module and fail to start.
    Every test ends with the interpreter's own `__main__` back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def policy_named_by_a_command_ends_with_its_test(monkeypatch):
    """`isap upload` and `isap ingest` name their policy in ISAP_POLICY for the processes they start; run
    in-process by a test, that name would otherwise outlive the test and override a later test's policy file."""
    monkeypatch.delenv("ISAP_POLICY", raising=False)
