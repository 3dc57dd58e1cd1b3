"""The one place that builds what every entry point needs: policy, database, file store and service.

The CLI, the Prefect flows (on a laptop, in Dask worker processes or on
Prefect workers), reminders and the dashboard all build their `Service` here,
so they all apply the same assurance policy and reach the same data.  The
policy is looked up in one order everywhere:

1. the `--policy FILE` a command was given;
2. `ISAP_POLICY` (a path), for processes that have no working directory of
   their own, such as Prefect workers and service managers;
3. `isap-policy.toml` in the working directory;
4. the built-in defaults.

Only the policy lookup is cheap to import: `isap check` uses it without
loading the database layer.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from isap.policy import POLICY_FILE_NAME, Policy

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from isap.review.service import Service
    from isap.store.files import Moving
    from isap.store.originals import Originals

POLICY_ENV = "ISAP_POLICY"


def policy_file(explicit: Path | str | None = None, cwd: Path | None = None) -> Path | None:
    """The policy file that applies here, or None for the built-in defaults."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit)
    named = os.environ.get(POLICY_ENV, "").strip()
    if named:
        return Path(named)
    found = (cwd or Path.cwd()) / POLICY_FILE_NAME
    return found if found.is_file() else None


def load_policy(explicit: Path | str | None = None, cwd: Path | None = None) -> Policy:
    """The policy that applies here; a file that cannot be used raises PolicyError, naming the file."""
    path = policy_file(explicit, cwd)
    return Policy.from_toml(path) if path is not None else Policy()


@dataclass(frozen=True)
class Wiring:
    """Everything an entry point acts through, built once."""

    policy: Policy
    policy_file: Path | None
    engine: "Engine"
    files: "Originals"
    service: "Service"


_lock = threading.Lock()
_built: dict[tuple, Wiring] = {}


def wire(policy: Path | str | None = None) -> Wiring:
    """The policy, engine, file store and service for this process's settings.

    Built once per distinct setting (policy file and its modification time,
    database URL, data directory) and shared after that, so a flow's tasks do
    not each re-read the policy and re-check the schema.  Raises PolicyError
    for an unusable policy file and StoreError when the database is not ready or ISAP_ORIGINALS is unusable.
    """
    from isap.store.db import data_dir, database_url

    path = policy_file(policy)
    resolved = path.resolve() if path is not None else None
    try:
        stamp = resolved.stat().st_mtime_ns if resolved is not None else None
    except OSError:
        stamp = None  # Policy.from_toml says what is wrong with it
    from isap.store.originals import originals_setting

    key = (resolved, stamp, database_url(), str(data_dir()), base_url(), originals_setting())
    with _lock:
        built = _built.get(key)
        if built is None:
            built = _build(resolved)
            _built[key] = built
        return built


def _build(path: Path | None) -> Wiring:
    from isap.review.service import Service
    from isap.store.db import StoreError, get_engine
    from isap.store.originals import OriginalsError, configured_originals

    policy = Policy.from_toml(path) if path is not None else Policy()
    engine = get_engine()
    try:
        files = configured_originals(engine)
    except OriginalsError as exc:  # ISAP_ORIGINALS names no store isap can use
        raise StoreError(str(exc)) from None
    return Wiring(policy, path, engine, files, Service(engine, files, policy, base_url=base_url()))


BASE_URL_ENV = "ISAP_BASE_URL"


def base_url() -> str | None:
    """The dashboard's address as people reach it (ISAP_BASE_URL), for the links in notifications."""
    return os.environ.get(BASE_URL_ENV, "").strip() or None


def data_dir() -> Path:
    """Where this installation keeps its data (ISAP_DATA_DIR, else the user's data folder)."""
    from isap.store.db import data_dir as store_data_dir

    return store_data_dir()


def upgrade_database(app_role: str | None = None) -> tuple[str, str]:
    """Create or upgrade the database schema: the revision now in force and the database's address with
    any password left out.  With `app_role` (PostgreSQL), that role is then granted what the application
    needs and no more.  Raises StoreError when the database cannot be reached, upgraded or granted."""
    from isap.store.db import database_url, grant_application_role, upgrade

    revision = upgrade()
    if app_role:
        grant_application_role(app_role)
    url = database_url()
    return revision, url.split("@")[-1] if "@" in url else url


def move_originals(source: Path | None = None) -> tuple["Moving", str, str]:
    """Move the originals the database refers to from the file store of earlier releases (`source`, by
    default `ISAP_DATA_DIR/files`) into the configured store (ISAP_ORIGINALS): what was done, and where
    from and where to, in words.  Nothing is deleted.  Raises StoreError when the database or the store fails."""
    from sqlalchemy.exc import SQLAlchemyError

    from isap.store.db import StoreError, store_error
    from isap.store.files import FileStore, move_originals, referenced_originals
    from isap.store.originals import OriginalsError

    wiring = wire()
    folder = FileStore(source if source is not None else data_dir() / "files")
    try:
        done = move_originals(referenced_originals(wiring.engine), folder, wiring.files)
    except OriginalsError as exc:
        raise StoreError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise store_error(exc) from None
    return done, str(folder.root), wiring.files.describe()


def service(policy: Path | str | None = None) -> "Service":
    """The wired service (see `wire`)."""
    return wire(policy).service


def export_policy(explicit: Path | str | None = None) -> Path | None:
    """Name the policy that applies here in ISAP_POLICY, as an absolute path, for the processes this one starts.

    Flow runs on Dask workers and Prefect workers do not share this process's
    working directory or command line; naming the file in the environment they
    inherit makes them apply the same policy.
    """
    path = policy_file(explicit)
    if path is not None:
        os.environ[POLICY_ENV] = str(path.resolve())
    return path
