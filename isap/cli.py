"""The `isap` command line.

Interactive commands stay fast: nothing here imports Prefect, the database
layer or pandas at start-up; each command imports what it needs.
"""

from __future__ import annotations

import gc
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from isap.private import write_private
from isap.review import wording
from isap.review.lifecycle import Action
from isap.review.wording import count, errors_and_warnings
from isap.text import SHOWN_AS_CODE_POINTS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ISAP assurance engine: check ICP proposal workbooks and follow them through review.")


# The command of each workflow action (after `isap`): every action of the state machine's table has one, and
# tests/test_guards.py names any that has none.
ACTION_COMMANDS: dict[Action, str] = {
    Action.UPLOAD: "upload", Action.ACKNOWLEDGE: "acknowledge", Action.SUBMIT: "submit", Action.WITHDRAW: "withdraw",
    Action.ANSWER_CONDITION: "condition answer", Action.COMMENT: "review comment", Action.TAKE: "review take",
    Action.RETURN: "review return", Action.DECIDE: "review propose", Action.DISCHARGE_CONDITION: "condition discharge",
    Action.CARRY_FORWARD_CONDITION: "condition carry-forward", Action.PLAN_SUBMISSION: "plan set",
    Action.AGREE_PLAN: "plan agree", Action.RAISE_QUERY: "query raise", Action.ANSWER_QUERY: "query answer",
    Action.FOLLOW_UP_QUERY: "query follow-up", Action.RESOLVE_QUERY: "query resolve",
    Action.REQUEST_WAIVER: "waiver request", Action.GRANT_WAIVER: "waiver grant", Action.REFUSE_WAIVER: "waiver refuse",
    Action.DECLARE: "declare", Action.RATE: "review rate", Action.COUNTERSIGN: "review countersign",
    Action.SEND_BACK: "review send-back", Action.ATTACH_EVIDENCE: "evidence add",
}


class CheckFormat(str, Enum):
    text = "text"
    json = "json"


class ReportFormat(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"
    markdown = "markdown"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"


class RulesFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


# Control characters (terminal escape sequences, carriage returns, bidirectional overrides) shown as
# visible escapes: workbook and user text must never drive the terminal that reads isap's output.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0, 9), *range(11, 32), *range(127, 160))}
_CONTROLS.update({ord(c): f"\\u{ord(c):04x}" for c in SHOWN_AS_CODE_POINTS})  # as in every document


def terminal_text(text: str) -> str:
    """`text` with every control character but tab and newline shown as an escape."""
    return text.translate(_CONTROLS)


def echo(message: str = "", err: bool = False, nl: bool = True) -> None:
    typer.echo(terminal_text(message), err=err, nl=nl)


def _die(message: str, code: int = 2) -> None:
    echo(f"isap: {message}", err=True)
    raise typer.Exit(code)


def _policy(path: Optional[Path]):
    """The policy: --policy, else ISAP_POLICY, else ./isap-policy.toml, else defaults (see isap.composition)."""
    from isap.composition import load_policy
    from isap.policy import PolicyError

    try:
        return load_policy(path)
    except PolicyError as exc:
        _die(str(exc))


POLICY = typer.Option(None, "--policy", help="Policy TOML file (default: $ISAP_POLICY, else ./isap-policy.toml, "
                                             "else the built-in defaults).")


def _split(values: Optional[List[str]]) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p for p in v.split(",") if p.strip())
    return out


@app.command()
def check(
    files: List[Path] = typer.Argument(..., help="Workbooks (.xlsx) to check.", show_default=False),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="Output format."),
    checkpoint: Optional[int] = typer.Option(None, "--checkpoint", help="Check for this checkpoint (1–3) "
                                             "instead of the Cover's."),
    annotate: Optional[Path] = typer.Option(None, "--annotate", help="Write an annotated copy of the (single) "
                                            "workbook here."),
    fail_on: FailOn = typer.Option(FailOn.error, "--fail-on", help="What makes the exit status 1."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy TOML file (default: ./isap-policy.toml)."),
    select: Optional[List[str]] = typer.Option(None, "--select", help="Only rules whose ID starts with these."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Skip rules whose ID starts with these."),
) -> None:
    """Check workbooks before submission. Exit 0: no errors; 1: errors; 2: not assessable; 3: isap failed."""
    if checkpoint is not None and checkpoint not in (1, 2, 3):
        _die("--checkpoint must be 1, 2 or 3")
    from isap.outputs.formats import to_json, to_text
    from isap.rules.engine import check_file, worst_status
    from isap.workbook import isolation

    if annotate is not None and len(files) != 1:
        _die("--annotate takes exactly one workbook")
    pol = _policy(policy)
    isolation.use_fork()  # this one-shot process has no threads of its own: its forks are the cheapest children
    if not gc.isenabled():  # paused for start-up (see main): what start-up made stays, out of the collector's way
        gc.freeze()
        gc.enable()
    reports = [check_file(f, pol, checkpoint, _split(select), _split(ignore)) for f in files]
    if format is ReportFormat.json:
        out = to_json(reports)
    elif format is ReportFormat.junit:
        from isap.outputs.exports import to_junit
        from isap.workbook.findings import Severity

        # what makes the exit status 1 is what the JUnit report counts as failures
        out = to_junit(reports, Severity(fail_on.value))
    elif format is ReportFormat.markdown:
        from isap.outputs.exports import to_markdown

        out = to_markdown(reports)
    else:
        out = to_text(reports)
    echo(out if out.endswith("\n") else out + "\n", nl=False)
    if annotate is not None:
        from isap.outputs.annotated_copy import AnnotateError, annotated_copy

        # the annotated copy is an extra: its failure is told on its own line and never changes the
        # check's exit status; it is made in a limited child, as the check was
        try:
            if reports[0].refused:  # not read again at all: the check already refused it
                annotated_copy(b"", reports[0], pol)
            copy, marked = annotated_copy(files[0].read_bytes(), reports[0], pol)
            write_private(annotate, copy)  # the commissioner's workbook, with its findings
            echo(f"Annotated copy: {annotate} ({count(marked, 'cell')} marked)", err=True)
        except (AnnotateError, OSError) as exc:
            echo(f"isap: cannot annotate: {' '.join(str(exc).split())}", err=True)
        except Exception as exc:  # noqa: BLE001
            echo(f"isap: cannot annotate: unexpected failure ({type(exc).__name__})", err=True)
    codes = []
    for r in reports:
        code = r.exit_code
        if code == 0 and fail_on is FailOn.warning and r.summary["warning"]:
            code = 1
        codes.append(code)
    raise typer.Exit(worst_status(codes))


EXAMPLE_REFERENCE = "ISAP-2026-014"


@app.command()
def template(out: Path = typer.Argument(..., help="Where to write the workbook (.xlsx)."),
             example: bool = typer.Option(False, "--example",
                                          help=f"Write a filled-in example proposal ({EXAMPLE_REFERENCE}, "
                                               "checkpoint 1) instead of the blank template.")) -> None:
    """Write the blank ISAP-WB 1.0 template a commissioner fills in (or, with --example, a filled-in one)."""
    try:
        if example:
            from isap.workbook.blank_template import write_filled_template
            from sample_submissions.proposals import clean

            # A strategic case as a commissioner would send it, still without a voluntary sector partner:
            # one warning (REL011) to show how warnings are explained and acknowledged.  It is the
            # template filled in, with every aid the blank one gives.
            proposal = clean(1, reference=EXAMPLE_REFERENCE)
            proposal["Partners"] = [p for p in proposal["Partners"] if p["partner_type"] != "Voluntary sector"]
            write_filled_template(proposal, out)
        else:
            from isap.workbook.blank_template import write_template

            write_template(out)
    except OSError as exc:
        _die(f"cannot write {out}: {exc.strerror or exc}")
    echo(f"Wrote the example proposal {EXAMPLE_REFERENCE} to {out}" if example
               else f"Wrote the ISAP-WB 1.0 template to {out}")


@app.command()
def rules(format: RulesFormat = typer.Option(RulesFormat.text, "--format", "-f")) -> None:
    """List the assurance rule catalogue."""
    from isap.rules.catalogue import render

    echo(render(format.value), nl=False)


# ---------------------------------------------------------------------- the workflow store

db_app = typer.Typer(pretty_exceptions_enable=False, help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(pretty_exceptions_enable=False, help="Organisations.", no_args_is_help=True)
user_app = typer.Typer(pretty_exceptions_enable=False, help="Users.", no_args_is_help=True)
review_app = typer.Typer(pretty_exceptions_enable=False, help="Reviewers' actions.", no_args_is_help=True)
condition_app = typer.Typer(pretty_exceptions_enable=False, help="Conditions.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(review_app, name="review")
app.add_typer(condition_app, name="condition")
query_app = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True,
                        help="Queries between the panel and the commissioner while a proposal is in review.")
app.add_typer(query_app, name="query")
waiver_app = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True,
                         help="Waivers of error findings: asked for by the commissioner, granted or refused by a "
                              "reviewer.")
app.add_typer(waiver_app, name="waiver")
evidence_app = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True,
                           help="Evidence documents behind a proposal: board papers, agreements, reports.")
app.add_typer(evidence_app, name="evidence")
notify_app = typer.Typer(pretty_exceptions_enable=False, help="Notifications (the outbox).", no_args_is_help=True)
app.add_typer(notify_app, name="notify")

AS = typer.Option(..., "--as", help="The acting user (a local administrative tool, not a login).")
DISPLAY_NAME_HELP = "The name letters and reports give the user (never the user name)."
JOB_TITLE_HELP = "The user's job title, printed under their name on letters and reports."
BODY_HELP = "A reviewer's national body: nhs_england or nhs_improvement."


def _service(policy: Optional[Path] = None):
    """The service wired by the composition root; a bad policy file is exit 2, a database not ready exit 1."""
    from isap.composition import export_policy, wire
    from isap.policy import PolicyError
    from isap.review.service import StoreError

    try:
        wiring = wire(policy)
    except PolicyError as exc:
        _die(str(exc), 2)
    except StoreError as exc:
        _die(str(exc), 1)
    # flows run here, Dask workers and the dashboard this process starts apply the same policy file
    export_policy(policy)
    return wiring.service


def _call(fn, *args, **kwargs):
    """Run a service call; a refused or failed action is one clear line and exit 1."""
    from isap.review.service import StoreError, WorkflowError

    try:
        return fn(*args, **kwargs)
    except (WorkflowError, StoreError) as exc:
        _die(str(exc), 1)


def _emit(data, fmt: CheckFormat, text: str) -> None:
    import json

    if fmt is CheckFormat.json:
        echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        echo(text)


@db_app.command("upgrade")
def db_upgrade(app_role: Optional[str] = typer.Option(
        None, "--app-role", help="PostgreSQL: the role the application connects as, granted only what it needs "
                                 "(run this as the role that owns the tables; see docs/deployment.md).")) -> None:
    """Create or upgrade the database schema to this version."""
    from isap.composition import upgrade_database
    from isap.review.service import StoreError

    try:
        rev, where = upgrade_database(app_role)
    except StoreError as exc:
        _die(str(exc), 1)
    echo(f"Database at schema {rev}: {where}" + (f"; {app_role} may read and add to it" if app_role else ""))


store_app = typer.Typer(pretty_exceptions_enable=False, help="Where the original uploads are kept.",
                        no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("migrate")
def store_migrate(source: Optional[Path] = typer.Option(
        None, "--from", help="The file store of earlier releases (default: $ISAP_DATA_DIR/files).")) -> None:
    """Copy the originals the database refers to from the old file store into the configured store
    (ISAP_ORIGINALS), checking each one's SHA-256. Deletes nothing. Exit 1: some are missing or corrupt."""
    if source is not None and not source.is_dir():
        _die(f"{source} is not a folder", 2)
    from isap.composition import move_originals

    _service()  # a database that is not ready, or a store that cannot be used, is one line and exit 1
    done, folder, store = _call(move_originals, source)
    echo(f"Originals from {folder} into {store}: moved {len(done.moved)}, already there {len(done.already_there)}, "
         f"missing from the folder {len(done.missing)}, corrupt {len(done.corrupt)}"
         + (f", unreadable {len(done.unreadable)}" if done.unreadable else ""))
    for label, digests in (("missing from the folder", done.missing), ("corrupt (bytes do not match the name)",
                           done.corrupt), ("unreadable", done.unreadable)):
        for sha in digests:
            echo(f"  {label}: {sha}")
    echo(f"Nothing was deleted: remove {folder} yourself once you are satisfied.")
    if not done.complete:
        raise typer.Exit(1)


@org_app.command("add")
def org_add(code: str, name: str) -> None:
    """Add an organisation (ODS code and name)."""
    org = _call(_service().add_organisation, code, name)
    echo(f"Added organisation {org.code} {org.name}")


@org_app.command("set-region")
def org_set_region(code: str, region: str = typer.Argument(
        ..., help="One of NHS England's seven regions, by name or code: East of England, London, Midlands, North East "
                  "and Yorkshire, North West, South East, South West.")) -> None:
    """Say which NHS England region oversees an organisation (the national view filters by it)."""
    org = _call(_service().set_region, code, region)
    from isap.review.regions import Region

    echo(f"{org.code} {org.name} is in {Region(org.region).label}")


@org_app.command("list")
def org_list() -> None:
    """List the organisations with their regions."""
    from isap.review.regions import Region

    for o in _call(_service().organisations):
        region = Region(o["region"]).label if o["region"] in Region._value2member_map_ else "no region"
        echo(f"{o['code']:<6} {o['name']} ({region})")


@user_app.command("add")
def user_add(username: str, role: str = typer.Option(..., "--role", help="commissioner, reviewer or admin"),
             org: Optional[str] = typer.Option(None, "--org", help="Organisation code (commissioners)."),
             password: Optional[str] = typer.Option(None, "--password", envvar="ISAP_NEW_PASSWORD",
                                                    help="Password for the dashboard (or ISAP_NEW_PASSWORD)."),
             email: Optional[str] = typer.Option(None, "--email"),
             display_name: Optional[str] = typer.Option(None, "--display-name", help=DISPLAY_NAME_HELP),
             job_title: Optional[str] = typer.Option(None, "--job-title", help=JOB_TITLE_HELP),
             body: Optional[str] = typer.Option(None, "--body", help=BODY_HELP)) -> None:
    """Add a user."""
    user = _call(_service().add_user, username, role, org, password, email, display_name=display_name,
                 job_title=job_title, body=body)
    echo(f"Added {user.role} {user.username}")


@user_app.command("set")
def user_set(username: str,
             display_name: Optional[str] = typer.Option(None, "--display-name", help=DISPLAY_NAME_HELP),
             job_title: Optional[str] = typer.Option(None, "--job-title", help=JOB_TITLE_HELP),
             body: Optional[str] = typer.Option(None, "--body", help=BODY_HELP)) -> None:
    """Set a user's display name, job title or body (an empty value clears it; one not given is kept)."""
    if display_name is None and job_title is None and body is None:
        _die("say what to set: --display-name, --job-title or --body", 2)
    user = _call(_service().set_user_details, username, display_name, job_title, body)
    echo(f"{user.username}: {user.display_name or 'no display name'}, {user.job_title or 'no job title'}, "
         f"{_body_label(user.body)}")


def _body_label(body: Optional[str]) -> str:
    from isap.review.lifecycle import BODY_LABELS

    return BODY_LABELS.get(body, "no body") if body else "no body"


@user_app.command("unlock")
def user_unlock(username: str) -> None:
    """Let a user name that was locked out after too many failed sign-ins sign in again at once."""
    _call(_service().unlock, username)
    echo(f"Unlocked sign-in for {username}")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Stop a user signing in anywhere, and end their sessions now."""
    ended = _call(_service().disable_user, username)
    echo(f"Disabled {username}; ended {count(ended, 'session')}")


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Let a disabled user sign in again."""
    _call(_service().enable_user, username)
    echo(f"Enabled {username}")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _new_password() -> str:
    """A new password from a hidden prompt, typed twice, or from the first line of stdin when it is not a terminal
    (never an argument: arguments are seen by every user of the machine and kept in shell histories)."""
    if _stdin_is_terminal():
        password = typer.prompt("New password", hide_input=True, default="", show_default=False)
        if password and password != typer.prompt("The same again", hide_input=True, default="",
                                                 show_default=False):
            _die("the two passwords do not match; nothing was changed", 1)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _die("a password cannot be empty; nothing was changed", 1)
    return password


@user_app.command("set-password")
def user_set_password(username: str) -> None:
    """Give a user a new password (asked for, or read from stdin), and end every session they have."""
    password = _new_password()
    ended = _call(_service().set_password, username, password)
    echo(f"Set a new password for {username}; ended {count(ended, 'session')}")


class UserListFormat(str, Enum):
    text = "text"
    json = "json"


@user_app.command("list")
def user_list(format: UserListFormat = typer.Option(UserListFormat.text, "--format", "-f")) -> None:
    """List the users: role, organisation, enabled or disabled, last sign-in and open sessions."""
    import json

    rows = _call(_service().users)
    if format is UserListFormat.json:
        echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    lines = [f"{r['username']:<20} {r['role']:<13} {r['organisation'] or '-':<8} {r['state']:<9} "
             f"last sign-in {(r['last_sign_in'] or 'never')[:16].replace('T', ' '):<16}  "
             f"open sessions {r['open_sessions']}" for r in rows]
    echo("\n".join(lines) if lines else "No users.")


user_sessions_app = typer.Typer(pretty_exceptions_enable=False, help="A user's sign-in sessions.",
                                no_args_is_help=True)
user_app.add_typer(user_sessions_app, name="sessions")


@user_sessions_app.command("end")
def user_sessions_end(username: str) -> None:
    """End every sign-in session of a user now (they may sign in again). Their API tokens stay; disabling the
    user or setting a new password revokes those too."""
    ended = _call(_service().end_sessions, username)
    echo(f"Ended {count(ended, 'session')} of {username}")


audit_app = typer.Typer(pretty_exceptions_enable=False, help="The audit history.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    expect_head: Optional[List[str]] = typer.Option(None, "--expect-head", help="A head known from outside (a "
                                                    "report, a letter): the history must still hold it."),
    anchors: Optional[Path] = typer.Option(None, "--anchors", help="A file of signed anchors: each must be signed "
                                           "by the audit key and its event still in the history with its hash."),
    public_key: Optional[Path] = typer.Option(None, "--public-key", help="The key anchors are checked with "
                                              "(default: $ISAP_AUDIT_PUBLIC_KEY, else $ISAP_AUDIT_KEY's)."),
) -> None:
    """Walk the audit history's hash chain, the decisions it sealed, and any known heads.

    Exit 0: everything matches; 1: the first thing that does not; 2: a head, key or anchors file that cannot be
    used."""
    import re

    from isap.review.audit_chain import KnownHead

    known = []
    for h in expect_head or []:
        if not re.fullmatch(r"[0-9a-f]{64}", h.strip().lower()):
            _die(f"--expect-head takes a head as printed by isap (64 hex digits), not {h!r}")
        known.append(KnownHead(h.strip().lower(), None, "the expected head"))
    if anchors is not None:
        known += _signed_anchors(anchors, public_key)
    result = _call(_service().verify_audit, known=known)
    if not result.ok:
        _die(f"the audit history was changed: {result.summary()}", 1)
    echo(result.summary())


def _signed_anchors(path: Path, public_key: Optional[Path]) -> list:
    """The anchors of `path` as known heads, once every one is shown to be signed by the audit key."""
    from isap.review import audit_anchors
    from isap.review.audit_chain import KnownHead

    try:
        key = audit_anchors.configured_public_key(public_key)
        read = audit_anchors.read(path)
    except audit_anchors.AnchorError as exc:
        _die(str(exc))
    unsigned = [n for n, a in read if not audit_anchors.signed_by(a, key)]
    if unsigned:
        which = (f"the anchor on line {unsigned[0]} of {path} is" if len(unsigned) == 1 else
                 f"the anchors on lines {wording.listing(map(str, unsigned))} of {path} are")
        _die(f"{which} not signed by the audit key "
             f"{audit_anchors.key_id(key)}: they were altered, or made with another key", 1)
    return [KnownHead(a.head, a.event_id, f"the anchor of {a.at} ({a.why}, line {n})") for n, a in read]


@audit_app.command("keygen")
def audit_keygen(path: Path = typer.Argument(..., help="Where to write the private key (mode 0600); the public "
                                             "key goes beside it, as PATH.pub.")) -> None:
    """Make the Ed25519 key that signs the audit chain's anchors. It never goes into the database."""
    from isap.review import audit_anchors

    try:
        public = audit_anchors.generate_key(path)
    except audit_anchors.AnchorError as exc:
        _die(str(exc))
    key = audit_anchors.load_public_key(public)
    echo(f"Wrote the audit key {audit_anchors.key_id(key)} to {path} (private, mode 0600) and {public} (public).\n"
         f"Give the dashboard and the workers {audit_anchors.KEY_ENV}={path}; keep {public} wherever anchors are "
         "checked.")


@audit_app.command("anchor")
def audit_anchor(why: str = typer.Option("taken by hand", "--why", help="Why the anchor was taken.")) -> None:
    """Sign the audit chain's head now and append the anchor to the anchors file; print it."""
    from isap.review import audit_anchors

    try:
        anchor = _call(_service().anchor_audit, why)
    except audit_anchors.AnchorError as exc:
        _die(str(exc))
    if anchor is None:
        _die(f"no audit key is configured: make one with `isap audit keygen PATH` and set {audit_anchors.KEY_ENV}")
    echo(anchor.line())


@app.command()
def upload(file: Path, as_: str = AS, format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f"),
           policy: Optional[Path] = POLICY) -> None:
    """Check a workbook and keep it as a new proposal or a new version."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        _die(f"cannot read {file}: {exc.strerror or exc}", 2)
    from isap.orchestration.dispatch import assure

    res = _call(assure, _service(policy), as_, file.name, data)
    text = (f"{res.reference} version {res.version}: {errors_and_warnings(res.errors, res.warnings)}"
            + (" (new proposal)" if res.created_proposal else "")
            + (f" — {res.message}" if res.message else "")) if res.reference else \
        f"{file.name}: {res.message} Kept as {res.kept_as}. {count(res.errors, 'error')}."
    _emit({"reference": res.reference, "version": res.version, "created_proposal": res.created_proposal,
           "duplicate": res.duplicate, "errors": res.errors, "warnings": res.warnings, "sha256": res.sha256,
           "kept_as": res.kept_as}, format, text)
    if res.reference is None:
        raise typer.Exit(1)


def ingest_table(rows: list[dict]) -> str:
    """`isap ingest`'s table: the file column as wide as the longest name, so no name is ever cut."""
    width = max([len("file"), *(len(r["file"]) for r in rows)])
    lines = [f"{'file':<{width}} {'reference':<15} {'version':>7} {'errors':>6} {'warnings':>8}  outcome"]
    for r in rows:
        lines.append(f"{r['file']:<{width}} {r['reference'] or '-':<15} {r['version'] or '-':>7} "
                     f"{'-' if r['errors'] is None else r['errors']:>6} "
                     f"{'-' if r['warnings'] is None else r['warnings']:>8}  {r['outcome']}")
    return "\n".join(lines)


@app.command()
def ingest(directory: Path, as_: str = AS,
           format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f"),
           policy: Optional[Path] = POLICY) -> None:
    """Assure every .xlsx in a folder: on the workers when a deployment is configured, else here, concurrently;
    files already assured are skipped."""
    if not directory.is_dir():
        _die(f"{directory} is not a folder", 2)
    from isap.orchestration.dispatch import orchestration_defaults
    from isap.orchestration.steps import batch_runner_setting

    try:
        batch_runner_setting()
    except ValueError as exc:
        _die(str(exc), 2)
    svc = _service(policy)
    orchestration_defaults(quiet=False)
    # read here, by the machine that has the folder: workers never see a path
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".xlsx" and p.is_file())
    from isap.orchestration.dispatch import ingest as assure_batch
    from isap.orchestration.dispatch import prefect_server_configured

    try:
        rows = _call(assure_batch, svc, as_, paths)
    except ValueError as exc:  # ISAP_TASK_RUNNER asks for something this installation lacks
        _die(str(exc), 2)
    finally:
        if prefect_server_configured() and "prefect" in sys.modules:
            from isap.orchestration.processes import flush_prefect

            flush_prefect()
    _emit(rows, format, ingest_table(rows))
    if any(r["outcome"].startswith(("failed", "refused")) for r in rows):
        raise typer.Exit(1)


@app.command()
def reminders(as_of: Optional[str] = typer.Option(None, "--today", help="YYYY-MM-DD (default: today)"),
              policy: Optional[Path] = POLICY) -> None:
    """Queue reminders for overdue reviews and conditions due soon or overdue in the outbox (the daily flow's
    work); `isap notify send` delivers them."""
    import datetime as dt

    from isap.orchestration.steps import reminders as write_reminders

    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _die(f"--today must be YYYY-MM-DD, not {as_of!r}", 2)
    queued = _call(write_reminders, _service(policy), day)
    echo(f"Wrote {count(len(queued), 'reminder')}")


@notify_app.command("send")
def notify_send(limit: int = typer.Option(200, "--limit", min=1, max=100_000, help="At most this many messages."),
                policy: Optional[Path] = POLICY) -> None:
    """Deliver the outbox once: by SMTP when ISAP_SMTP_HOST is set, else as .eml files in the outbox folder.
    Exit 1 when a message failed for good or the mail settings cannot be used."""
    from isap.orchestration.notifications import MailSettings, deliver

    try:
        settings = MailSettings.from_env()
    except ValueError as exc:
        _die(str(exc), 2)
    counts = _call(deliver, _service(policy), settings, limit)
    echo(f"Sent {counts['sent']}, to retry later {counts['retry']}, failed {counts['failed']}")
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
def worker(pool: str = typer.Option("isap", "--pool", help="Prefect work pool to serve."),
           limit: int = typer.Option(1, "--limit", min=1, max=1000,
                                     help="At most this many flow runs at once on this worker (default 1)."),
           policy: Optional[Path] = POLICY) -> None:
    """Serve the flows' deployments from a Prefect work pool (needs PREFECT_API_URL, and PREFECT_API_AUTH_STRING
    when the server asks for a credential)."""
    import os

    from isap.composition import export_policy
    from isap.orchestration.steps import batch_runner_setting

    if not os.environ.get("PREFECT_API_URL"):
        _die("set PREFECT_API_URL to the Prefect server first (see docs/deployment.md)", 2)
    try:
        batch_runner_setting()
    except ValueError as exc:
        _die(str(exc), 2)
    _policy(policy)  # a bad policy file stops the worker here, not each flow run later
    # flow runs start in their deployment's working directory: name the policy for them by its absolute path
    export_policy(policy)
    from isap.orchestration.processes import Children

    # Prefect's worker takes every run queued in its pool unless limited, and a run's process costs more to
    # start than most checks take: the limit keeps runs for the workers that are free.
    # It runs as a child, in a process group of its own with its flow runs: a stop signal to this command
    # (a service manager's SIGTERM, Ctrl-C) asks the worker to stop, then, after 8 s, kills the group, so
    # the whole worker is gone within 10 s; a SIGKILL to this command takes the worker with it (a flow run
    # already started then finishes on its own).
    # Prefect's worker asks for runs every 10 s by default: half an upload's wait on a warm worker was that
    # polling (docs/performance.md); every 2 s costs the server one cheap query per worker and interval.
    os.environ.setdefault("PREFECT_WORKER_QUERY_SECONDS", "2")
    with Children(grace=8.0) as children:
        code = children.start([sys.executable, "-m", "prefect", "worker", "start", "--pool", pool,
                               "--limit", str(limit)], group=True).wait()
    raise typer.Exit(code)


@app.command()
def deploy(pool: str = typer.Option("isap", "--pool", help="Prefect work pool the deployments run in (a process "
                                                           "pool, created if it does not exist)."),
           notifications_every: int = typer.Option(300, "--notifications-every", min=1, max=86_400,
                                                   help="Seconds between deliveries of the outbox.")) -> None:
    """Register the flows' deployments and schedules with the Prefect server in PREFECT_API_URL (again after
    upgrading isap: workers run the flows of the isap installed beside them)."""
    import os

    if not os.environ.get("PREFECT_API_URL"):
        _die("set PREFECT_API_URL to the Prefect server first (see docs/deployment.md)", 2)
    from isap.orchestration.deployments import DeployFailed
    from isap.orchestration.deployments import deploy as register

    try:
        names, missing = register(pool, notifications_every=notifications_every)
    except ValueError as exc:  # a bad ISAP_TASK_RUNNER, read when the flows are imported
        _die(str(exc), 2)
    except DeployFailed as exc:
        _die(str(exc), 1)
    for name in names:
        echo(f"Deployed {name} in work pool {pool}")
    for flow in missing:
        echo(f"Not deployed: this isap has no {flow} flow", err=True)


@app.command()
def acknowledge(reference: str, rule_id: str, note: str = typer.Option(..., "--note"),
                cell: Optional[str] = typer.Option(None, "--cell", help="The warning's cell, or - for the one "
                                                   "without a cell."),
                sheet: Optional[str] = typer.Option(None, "--sheet", help="The warning's sheet."),
                finding: Optional[int] = typer.Option(None, "--finding", help="The warning's number, as `show "
                                                      "--format json` lists it (findings[].id)."),
                as_: str = AS) -> None:
    """Acknowledge a warning of the latest version with an explanatory note."""
    _call(_service().acknowledge, as_, reference, rule_id.upper(), note, cell, finding_id=finding, sheet=sheet)
    echo(f"Acknowledged {rule_id.upper()} on {reference}")


@app.command()
def submit(reference: str, as_: str = AS) -> None:
    """Submit the latest version for the proposal's current checkpoint."""
    _call(_service().submit, as_, reference)
    echo(f"Submitted {reference}")


@app.command()
def withdraw(reference: str, as_: str = AS, reason: Optional[str] = typer.Option(None, "--reason")) -> None:
    """Withdraw a proposal (terminal)."""
    _call(_service().withdraw, as_, reference, reason)
    echo(f"Withdrew {reference}")


@review_app.command("take")
def review_take(reference: str, as_: str = AS) -> None:
    """Take a submitted proposal into review."""
    _call(_service().take, as_, reference)
    echo(f"{reference} is in review")


@review_app.command("return")
def review_return(reference: str, reason: str = typer.Option(..., "--reason"), as_: str = AS) -> None:
    """Return a submitted proposal to the commissioner without a decision."""
    _call(_service().return_submission, as_, reference, reason)
    echo(f"Returned {reference}")


@review_app.command("comment")
def review_comment(reference: str, text: str, as_: str = AS) -> None:
    """Comment on a proposal."""
    _call(_service().comment, as_, reference, text)
    echo(f"Commented on {reference}")


@app.command()
def declare(reference: str, as_: str = AS,
            conflict_with: Optional[str] = typer.Option(
                None, "--conflict-with", help="The organisation a conflict of interest is with (none: declare no "
                                              "conflict)."),
            note: Optional[str] = typer.Option(None, "--note", help="What the conflict is (needed with one).")) -> None:
    """Declare your interests in a proposal before taking, rating or countersigning it: none, or a conflict."""
    conflict = _call(_service().declare, as_, reference, conflict_with, note)
    echo(f"Declared a conflict of interest in {reference}: you take no part in its review" if conflict
         else f"Declared no conflict of interest in {reference}")


def _ratings(rating: List[str]) -> dict[str, str]:
    ratings: dict[str, str] = {}
    for r in rating:
        if "=" not in r:
            _die(f"a rating must be DOMAIN=green|amber|red, got {r!r}", 1)
        d, v = r.split("=", 1)
        ratings[d.strip().lower().replace(" ", "_")] = v.strip().lower()
    return ratings


@review_app.command("rate")
def review_rate(reference: str, domain: str = typer.Option(..., "--domain", help="An assurance domain."),
                rating: str = typer.Option(..., "--rating", help="green, amber or red"), as_: str = AS) -> None:
    """Rate one assurance domain, with your name on the rating (any panel member)."""
    _call(_service().rate, as_, reference, domain, rating)
    echo(f"Rated {domain} {rating.lower()} on {reference}")


@review_app.command("propose")
def review_propose(reference: str,
                   outcome: str = typer.Option(..., "--outcome",
                                               help="approved, approved_with_conditions, returned or halted"),
                   rating: List[str] = typer.Option([], "--rating",
                                                    help="DOMAIN=green|amber|red, for each domain not yet rated"),
                   rationale: str = typer.Option("", "--rationale"),
                   condition: List[str] = typer.Option([], "--condition", help="TEXT|OWNER|YYYY-MM-DD"),
                   as_: str = AS) -> None:
    """Propose the checkpoint decision (the lead reviewer); it takes effect when a second reviewer countersigns."""
    from isap.review.service import ConditionInput, WorkflowError

    ratings = _ratings(rating)
    try:
        conds = [ConditionInput.parse(c) for c in condition]
    except WorkflowError as exc:
        _die(str(exc), 1)
    _call(_service().propose, as_, reference, outcome, ratings, rationale, conds)
    echo(f"Proposed {outcome} for {reference}: it takes effect when a second reviewer countersigns it")


@review_app.command("countersign")
def review_countersign(reference: str, as_: str = AS) -> None:
    """Countersign the proposed decision (a second reviewer): it takes effect now."""
    svc = _service()
    _call(svc.countersign, as_, reference)
    d = _call(svc.show, as_, reference)
    echo(f"Countersigned the decision on {reference}: it is now {d['state'].replace('_', ' ')} at checkpoint "
         f"{d['checkpoint']}")


@review_app.command("send-back")
def review_send_back(reference: str, note: str = typer.Option(..., "--note", help="Why, for the lead reviewer."),
                     as_: str = AS) -> None:
    """Send the proposed decision back to the lead reviewer with a note; the proposal stays in review."""
    _call(_service().send_back, as_, reference, note)
    echo(f"Sent the proposed decision on {reference} back to the lead reviewer")


@condition_app.command("discharge")
def condition_discharge(reference: str, condition_id: int, note: str = typer.Option(..., "--note"),
                        as_: str = AS) -> None:
    """Discharge a condition."""
    _call(_service().discharge, as_, reference, condition_id, note)
    echo(f"Discharged condition {condition_id} of {reference}")


@condition_app.command("carry-forward")
def condition_carry(reference: str, condition_id: int, note: str = typer.Option(..., "--note"),
                    as_: str = AS) -> None:
    """Carry a condition forward to the next checkpoint explicitly."""
    _call(_service().discharge, as_, reference, condition_id, note, carry_forward=True)
    echo(f"Carried condition {condition_id} of {reference} forward")


plan_app = typer.Typer(pretty_exceptions_enable=False, help="The checkpoint calendar: planned submission dates.",
                       no_args_is_help=True)
app.add_typer(plan_app, name="plan")


def _day(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        _die(f"{text!r} is not a date YYYY-MM-DD", 2)


@plan_app.command("set")
def plan_set(reference: str, checkpoint: int, date: str = typer.Argument(..., help="YYYY-MM-DD"),
             reason: Optional[str] = typer.Option(None, "--reason", help="Why an agreed date changes (needed then)."),
             as_: str = AS) -> None:
    """Propose the date a checkpoint's submission is planned for; a reviewer agrees it."""
    row = _call(_service().plan_submission, as_, reference, checkpoint, _day(date), reason)
    echo(f"{reference}: checkpoint {checkpoint} planned for {row['planned']}"
         + (f"; the agreed date {row['agreed']} counts until a reviewer agrees" if row["agreed"]
            and row["agreed"] != row["planned"] else "; waiting for a reviewer's agreement"
            if not row["agreed"] else ""))


@plan_app.command("agree")
def plan_agree(reference: str, checkpoint: int, as_: str = AS) -> None:
    """Agree the date proposed for a checkpoint's submission (reviewers)."""
    row = _call(_service().agree_plan, as_, reference, checkpoint)
    echo(f"{reference}: checkpoint {checkpoint} agreed for {row['agreed']}")


@condition_app.command("answer")
def condition_answer(reference: str, condition_id: int, text: str, as_: str = AS) -> None:
    """Answer a condition (commissioner)."""
    _call(_service().answer_condition, as_, reference, condition_id, text)
    echo(f"Answered condition {condition_id} of {reference}")


@query_app.command("raise")
def query_raise(reference: str, text: str,
                finding: Optional[int] = typer.Option(None, "--finding", help="The finding's number, as `show "
                                                      "--format json` lists it (findings[].id)."),
                cell: Optional[str] = typer.Option(None, "--cell", help="The field or cell, such as 'Cover C7'."),
                due: Optional[str] = typer.Option(None, "--due", help="Answer by YYYY-MM-DD."),
                as_: str = AS) -> None:
    """Raise a query on a finding, a field or cell, or (with neither) the proposal as a whole."""
    import datetime as dt

    due_date = None
    if due is not None:
        try:
            due_date = dt.date.fromisoformat(due.strip())
        except ValueError:
            _die(f"the due date {due!r} is not a date YYYY-MM-DD", 1)
    number = _call(_service().raise_query, as_, reference, text, finding_id=finding, place=cell, due_date=due_date)
    echo(f"Raised query {number} on {reference}")


@query_app.command("answer")
def query_answer(reference: str, number: int, text: str,
                 document: Optional[list[str]] = typer.Option(
                     None, "--document", help="An attached document given in support, by its short id (the start "
                     "of its SHA-256, as `isap evidence list` shows it); repeat for several."),
                 attach: Optional[Path] = typer.Option(None, "--attach", help="A new document (PDF, .docx or .xlsx) "
                                                       "given in support, with --kind, --title and --reference."),
                 kind: Optional[str] = typer.Option(None, "--kind", help="The new document's kind."),
                 title: Optional[str] = typer.Option(None, "--title", help="The new document's title."),
                 evidence_reference: Optional[str] = typer.Option(None, "--reference",
                                                                  help="The new document's reference."),
                 as_: str = AS) -> None:
    """Answer a query (commissioner), naming attached documents or attaching a new one in support."""
    svc = _service()
    attachments = []
    if attach is not None:
        if not (kind and title and evidence_reference):
            _die("--attach needs --kind, --title and --reference: what the new document is kept as", 2)
        from isap.review.evidence import EvidenceInput
        from isap.workbook import isolation

        try:
            with open(attach, "rb") as fh:  # never more than one byte past the limit: the rest would be refused
                data = fh.read(svc.policy.max_evidence_bytes + 1)
        except OSError as exc:
            _die(f"cannot read {attach}: {exc.strerror or exc}", 2)
        isolation.use_fork()  # the document is judged in a forked, limited child, as a workbook is
        attachments.append(EvidenceInput(attach.name, data, kind, title, evidence_reference))
    _call(svc.answer_query, as_, reference, number, text, documents=document or [], attachments=attachments)
    given = len(document or []) + len(attachments)
    echo(f"Answered query {number} of {reference}" + (f" with {wording.count(given, 'document')}" if given else ""))


@query_app.command("follow-up")
def query_follow_up(reference: str, number: int, text: str, as_: str = AS) -> None:
    """Ask again on an answered query: it waits for the commissioner once more."""
    _call(_service().follow_up_query, as_, reference, number, text)
    echo(f"Followed up query {number} of {reference}")


@query_app.command("resolve")
def query_resolve(reference: str, number: int, note: str = typer.Option(..., "--note"), as_: str = AS) -> None:
    """Resolve a query, saying why."""
    _call(_service().resolve_query, as_, reference, number, note)
    echo(f"Resolved query {number} of {reference}")


@waiver_app.command("request")
def waiver_request(reference: str,
                   finding: int = typer.Option(..., "--finding", help="The error finding's number, as `show "
                                               "--format json` lists it (findings[].id)."),
                   reason: str = typer.Option(..., "--reason"), as_: str = AS) -> None:
    """Ask for a waiver of an error finding of the latest version (commissioner)."""
    number = _call(_service().request_waiver, as_, reference, finding, reason)
    echo(f"Asked for waiver {number} on {reference}")


@waiver_app.command("grant")
def waiver_grant(reference: str, number: int, reason: str = typer.Option(..., "--reason"), as_: str = AS) -> None:
    """Grant a waiver: the finding no longer blocks a submission at this checkpoint."""
    _call(_service().grant_waiver, as_, reference, number, reason)
    echo(f"Granted waiver {number} of {reference}")


@waiver_app.command("refuse")
def waiver_refuse(reference: str, number: int, reason: str = typer.Option(..., "--reason"), as_: str = AS) -> None:
    """Refuse a waiver: the finding still blocks."""
    _call(_service().refuse_waiver, as_, reference, number, reason)
    echo(f"Refused waiver {number} of {reference}")


@evidence_app.command("add")
def evidence_add(reference: str, file: Path,
                 kind: str = typer.Option(..., "--kind", help="commissioner_board_paper, provider_board_paper, "
                                          "advisers_report, integration_agreement, sub_contract, engagement_report, "
                                          "equality_analysis, financial_model, mobilisation_plan or other."),
                 title: str = typer.Option(..., "--title"),
                 evidence_reference: str = typer.Option(..., "--reference", help="What the workbook's "
                                                        "evidence_reference values name it by."),
                 checkpoint: Optional[int] = typer.Option(None, "--checkpoint", help="Attach it for this "
                                                          "checkpoint (default: the proposal's current one)."),
                 as_: str = AS) -> None:
    """Attach a PDF, Word (.docx) or Excel (.xlsx) document to a proposal (commissioner)."""
    from isap.workbook import isolation

    svc = _service()
    try:
        with open(file, "rb") as fh:  # never more than one byte past the limit: the rest would be refused anyway
            data = fh.read(svc.policy.max_evidence_bytes + 1)
    except OSError as exc:
        _die(f"cannot read {file}: {exc.strerror or exc}", 2)
    isolation.use_fork()  # the document is judged in a forked, limited child, as a workbook is
    row = _call(svc.attach_evidence, as_, reference, file.name, data, kind, title, evidence_reference,
                checkpoint=checkpoint)
    echo(f"Attached “{row['reference']}” ({row['kind_label']}, {row['type_label']}) to {reference} for checkpoint "
         f"{row['checkpoint']}; SHA-256 {row['sha256']}")


@evidence_app.command("list")
def evidence_list(reference: str, as_: str = AS,
                  format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f")) -> None:
    """The proposal's evidence documents, by checkpoint."""
    rows = _call(_service().evidence_list, as_, reference)
    lines = [f"cp {r['checkpoint']}  {r['sha256'][:wording.SHA256_SHOWN]}  {r['reference']:<30} {r['kind_label']:<26} "
             f"{r['title'][:50]}  ({r['type_label']}, {r['size']:,} bytes, {r['attached_by']}, {r['attached_at'][:16]})"
             for r in rows]
    _emit(rows, format, "\n".join(lines) if lines else f"{reference} has no evidence documents.")


@evidence_app.command("download")
def evidence_download(reference: str, evidence_reference: str,
                      out: Path = typer.Option(..., "--out", help="Where to write the document."),
                      as_: str = AS) -> None:
    """Write an evidence document, byte for byte, to a file."""
    got = _call(_service().evidence_download, as_, reference, evidence_reference)
    try:
        write_private(out, got.data)
    except OSError as exc:
        _die(f"cannot write {out}: {exc.strerror or exc}", 2)
    echo(f"Wrote {got.filename} ({len(got.data):,} bytes) to {out}")


@app.command("list")
def list_(state: Optional[str] = typer.Option(None, "--state"), as_: str = AS,
          format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f")) -> None:
    """List the proposals you can see."""
    rows = _call(_service().list_proposals, as_, state)
    lines = [f"{r['reference']:<15}{r['state']:<12}cp {r['checkpoint']}  {r['commissioner']:<7}"
             f"v{r['latest_version'] or '-':<4}{r['title'][:60]}" for r in rows]
    _emit(rows, format, "\n".join(lines) if lines else "No proposals.")


@app.command()
def show(reference: str, as_: str = AS, format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f")) -> None:
    """Show a proposal: versions, findings, conditions, reviews and history."""
    d = _call(_service().show, as_, reference)
    lines = [f"{d['reference']} — {d['title']}", f"  {wording.state(d['state'])} at checkpoint {d['checkpoint']} "
             f"({d['commissioner']})", f"  Next step: {d['next_step']}", "  Versions:"]
    lines += [f"    v{v['number']} cp{v['checkpoint']} {errors_and_warnings(v['errors'], v['warnings'])} "
              f"{v['sha256'][:12]}… by {v['uploaded_by']} {wording.when(v['uploaded_at'])}" for v in d["versions"]]
    if d["findings"]:
        lines.append("  Findings of the latest version:")
        for f in d["findings"]:
            place = f"{f['sheet'] or 'file'} {f['cell'] or ''}".strip()
            mark = ""
            if f.get("waived"):
                w = f["waiver"]
                mark = f"  [waived by {w['ruled_by']}: {w['ruling']}]"
            elif f.get("waiver"):
                mark = f"  [waiver {f['waiver']['id']} asked for]"
            lines.append(f"    #{f['id']} {f['severity']:<7} {f['rule_id']:<7} {place}: {f['message']}{mark}")
    if d.get("waivers"):
        lines.append("  Waivers:")
        for w in d["waivers"]:
            ruled = f"; {w['status']} by {w['ruled_by']}: {w['ruling']}" if w["ruled_by"] else ""
            lines.append(f"    #{w['id']} cp{w['checkpoint']} {w['status']}: {w['rule_id']} at {w['place']} — asked "
                         f"by {w['requested_by']}: {w['reason']}{ruled}")
    if d.get("queries"):
        lines.append("  Queries:")
        for q in d["queries"]:
            about = q["about"] or "the proposal"
            due = f", due {wording.day(q['due_date'])}" if q["due_date"] else ""
            lines.append(f"    #{q['id']} cp{q['checkpoint']} {q['status'].replace('_', ' ')} — on {about}{due}")
            for m in q["thread"]:
                step = m["step"].replace("_", "-")
                lines.append(f"      {wording.when(m['at'])} {m['author']} ({step}): {m['text']}")
                if m.get("documents"):
                    lines.append("        Documents: " + ", ".join(wording.document_named(x) for x in m["documents"]))
    if d.get("evidence"):
        lines.append("  Evidence:")
        lines += [f"    cp{e['checkpoint']} {e['kind']}: {e['title']} ({e['filename']}, {e['size']}, SHA-256 "
                  f"{e['sha256']}) attached by {e['attached_by']} {e['attached_on']}"
                  for e in map(wording.evidence, d["evidence"])]
    if d.get("waiting_on_commissioner"):
        lines.append(f"  Working days waiting for the commissioner's answers (not counted against the target): "
                     f"{d['waiting_on_commissioner']}")
    if d["conditions"]:
        lines.append("  Conditions:")
        lines += [f"    #{c['id']} cp{c['checkpoint']} {wording.code(c['status'])}: {c['text']} ({c['owner']}, due "
                  f"{wording.day(c['due_date'])})" for c in d["conditions"]]
    lines.append("  History:")
    for h in map(wording.history_row, d["history"]):
        lines.append("    " + "  ".join(x for x in (h["when"], h["who"], h["what"], h["change"], h["details"]) if x))
    _emit(d, format, "\n".join(lines))


class DocumentFormat(str, Enum):
    html = "html"
    pdf = "pdf"


def _write_document(out: Path, data: str | bytes) -> None:
    try:
        write_private(out, data)  # a report or letter holds the proposal and the people who decided it
    except OSError as exc:
        _die(f"cannot write {out}: {exc.strerror or exc}", 1)


def _pdf(fn, *args):
    from isap.outputs.letters import FontsMissing

    try:
        return _call(fn, *args)
    except FontsMissing as exc:
        _die(f"cannot make a PDF: {exc}", 1)


@app.command()
def report(reference: str, checkpoint: int = typer.Option(..., "--checkpoint"),
           out: Path = typer.Option(..., "--out", help="Where to write the report (.html or .pdf)."),
           format: Optional[DocumentFormat] = typer.Option(
               None, "--format", "-f", help="html or pdf; by default from the --out suffix (.pdf is PDF)."),
           as_: str = AS) -> None:
    """Write the checkpoint assurance report (printable HTML, or PDF)."""
    fmt = format or (DocumentFormat.pdf if out.suffix.lower() == ".pdf" else DocumentFormat.html)
    if fmt is DocumentFormat.pdf:
        from isap.outputs.letters import render_report_pdf

        _write_document(out, _pdf(render_report_pdf, _service(), as_, reference, checkpoint))
    else:
        from isap.outputs.assurance_report import render_report

        _write_document(out, _call(render_report, _service(), as_, reference, checkpoint))
    echo(f"Wrote the checkpoint {checkpoint} assurance report for {reference} to {out} ({fmt.value.upper()})")


@app.command()
def letter(reference: str, checkpoint: int = typer.Option(..., "--checkpoint"),
           out: Path = typer.Option(..., "--out", help="Where to write the letter (PDF)."), as_: str = AS) -> None:
    """Write the decision letter for a checkpoint decision (PDF), addressed to the commissioner."""
    from isap.outputs.letters import render_letter_pdf

    _write_document(out, _pdf(render_letter_pdf, _service(), as_, reference, checkpoint))
    echo(f"Wrote the checkpoint {checkpoint} decision letter for {reference} to {out}")


@app.command()
def download(reference: str, version: int = typer.Option(..., "--version", min=1),
             out: Path = typer.Option(..., "--out", help="Where to write the original workbook."),
             force: bool = typer.Option(False, "--force", help="Replace FILE if it exists."), as_: str = AS) -> None:
    """Write a version's original workbook, byte for byte as it was uploaded (readable by you alone)."""
    import hashlib

    if not force and (out.exists() or out.is_symlink()):
        _die(f"{out} exists; --force replaces it", 1)
    name, data = _call(_service().version_bytes, as_, reference, version)
    try:
        write_private(out, data, replace=force)
    except FileExistsError:
        _die(f"{out} exists; --force replaces it", 1)
    except OSError as exc:
        _die(f"cannot write {out}: {exc.strerror or exc}", 1)
    echo(f"Wrote version {version} of {reference} ({name}) to {out}: {len(data)} bytes, "
         f"SHA-256 {hashlib.sha256(data).hexdigest()}")


token_app = typer.Typer(pretty_exceptions_enable=False, help="Personal API tokens for the HTTP API (docs/api.md).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(name: str = typer.Option(..., "--name", help="What the token is for, such as ci."),
                 days: Optional[int] = typer.Option(None, "--days", min=1,
                                                    help="Days it acts (default and most: the policy's "
                                                         "api_token_days)."),
                 as_: str = AS) -> None:
    """Create a personal API token acting as you. Its secret is printed once, alone on stdout; only its hash is
    kept."""
    row, secret = _call(_service().create_token, as_, name, days)
    echo(f"Created token {row['id']} ({row['name']}) for {row['user']}, expiring {row['expires_at'][:10]}. "
         "This is the only time it is shown:", err=True)
    echo(secret)


@token_app.command("list")
def token_list(as_: str = AS, format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f")) -> None:
    """List your API tokens (an administrator's list has everyone's); never their secrets."""
    rows = _call(_service().tokens, as_)
    lines = [f"{r['id']:>5}  {r['name'][:24]:<24} {r['user'][:16]:<16} {r['state']:<8} "
             f"expires {r['expires_at'][:10]}  last used {(r['last_used_at'] or 'never')[:16].replace('T', ' ')}"
             for r in rows]
    _emit(rows, format, "\n".join(lines) if lines else "No tokens.")


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="The token's number, as `isap token list` shows it."),
                 as_: str = AS) -> None:
    """Revoke one of your API tokens (an administrator may revoke anyone's): it never acts again."""
    row = _call(_service().revoke_token, as_, token_id)
    echo(f"Revoked token {row['id']} ({row['name']}) of {row['user']}")


@app.command()
def api(port: int = typer.Option(8502, "--port", min=1, max=65535),
        host: str = typer.Option("localhost", "--host")) -> None:
    """Serve the HTTP API (docs/api.md) on the configured database, until stopped."""
    from isap.orchestration.dispatch import log_like_prefect, orchestration_defaults

    _service()  # refuse early, with a clear message, when the database or the policy is not ready
    orchestration_defaults()
    log_like_prefect()
    import uvicorn

    echo(f"API: http://{host}:{port}/v1 (OpenAPI: http://{host}:{port}/openapi.json)")
    sys.stdout.flush()
    # one process: the rate limit of each token is counted in it (isap/api/limits.py)
    uvicorn.run("isap.api.app:create_app", factory=True, host=host, port=port, workers=1, log_level="warning",
                server_header=False)


class ExportFormat(str, Enum):
    csv = "csv"
    xlsx = "xlsx"


national_app = typer.Typer(pretty_exceptions_enable=False, help=(
    "The national view: every proposal in England in one table (docs/dashboard.md, \"National view\")."))
app.add_typer(national_app, name="national")


@national_app.callback(invoke_without_command=True)
def national(ctx: typer.Context,
             out: Optional[Path] = typer.Option(None, "--out", help="Where to write the table (.csv or .xlsx)."),
             format: Optional[ExportFormat] = typer.Option(
                 None, "--format", "-f", help="csv or xlsx; by default from the --out suffix (.xlsx is Excel)."),
             region: Optional[str] = typer.Option(None, "--region", help="Only this NHS England region's."),
             state: Optional[str] = typer.Option(None, "--state", help="Only proposals in this state."),
             checkpoint: Optional[int] = typer.Option(None, "--checkpoint", min=1, help="Only at this checkpoint."),
             model: Optional[str] = typer.Option(None, "--model", help="Only this integration model."),
             late: Optional[bool] = typer.Option(None, "--late/--not-late", help="Only late, or only not late, ones."),
             as_: Optional[str] = typer.Option(None, "--as", help="The acting user, a reviewer or an administrator.")
             ) -> None:
    """Export the national view (reviewers and administrators) as CSV or as an Excel workbook, the same files the
    dashboard's page downloads: text that could run as a formula never does."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None or as_ is None:
        _die("isap national needs --out FILE and --as NAME (or a command: isap national refresh)", 2)
    from isap.outputs import national as export

    kind = format or (ExportFormat.xlsx if out.suffix.lower() == ".xlsx" else ExportFormat.csv)
    rows = _call(_service().national_view, as_, region=region, state=state, checkpoint=checkpoint, model=model,
                 late=late)
    _write_document(out, export.export(rows, kind.value))
    echo(f"Wrote the national view to {out}: {len(rows)} proposal(s), {kind.value.upper()}")


@national_app.command("refresh")
def national_refresh() -> None:
    """Fill the key figures (provider, model, contract value, WPAP, population) of proposals uploaded before the
    national view kept them, by reading each one's latest original again in the isolated checker. Safe to repeat.
    Exit 1: some originals could not be read now."""
    svc = _service()
    done = _call(svc.refresh_national_figures)
    echo(f"Key figures filled for {len(done.filled)} proposal(s); {len(done.blank)} whose latest version gives none; "
         f"{len(done.unread)} not read now")
    for name in done.filled:
        echo(f"  filled: {name}")
    for name in done.blank:
        echo(f"  none in its latest version: {name}")
    for name, why in done.unread:
        echo(f"  not read: {name}: {why}", err=True)
    if not done.complete:
        raise typer.Exit(1)


demo_app = typer.Typer(pretty_exceptions_enable=False, help="Demo data.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@demo_app.command("load")
def demo_load() -> None:
    """Load demo organisations, users and sample proposals (once)."""
    from isap.demo import DEMO_USERS, load

    created = _call(load, _service())
    if created:
        echo("Loaded the demo data. Sign in as:")
        for name, role, org, password in DEMO_USERS:
            echo(f"  {name:<6} {role:<13} {org or '':<5} password {password}")
    else:
        echo("The demo data is already loaded.")


@app.command()
def dashboard(port: int = typer.Option(8501, "--port"), host: str = typer.Option("localhost", "--host"),
              secrets: Optional[Path] = typer.Option(
                  None, "--secrets", help="A Streamlit secrets.toml whose [auth] section configures single sign-on "
                                          "(OpenID Connect); without one, local accounts sign in."),
              api_port: Optional[int] = typer.Option(
                  None, "--api-port", min=1, max=65535,
                  help="Also serve the HTTP API (isap api) on this port, beside the dashboard.")) -> None:
    """Start the dashboard on the configured database (and, with --api-port, the HTTP API beside it)."""
    import os
    import threading
    import tomllib

    if secrets is not None:
        try:
            auth = tomllib.loads(secrets.read_text(encoding="utf-8")).get("auth")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            _die(f"cannot read {secrets}: {exc}", 2)
        missing = [k for k in ("redirect_uri", "cookie_secret") if not isinstance(auth, dict) or k not in auth]
        if missing:
            _die(f"{secrets} needs an [auth] section with {', '.join(missing)} (see docs/deployment.md)", 2)

    from isap.orchestration.dispatch import orchestration_defaults

    svc = _service()  # refuse early, with a clear message, when the database is not ready
    orchestration_defaults()
    cmd = dashboard_command(port, host, svc.policy.max_file_bytes, secrets)
    from isap.orchestration.processes import Children

    echo("Starting the dashboard…")
    # Streamlit and the Prefect API are this command's children: stopping it (SIGTERM, Ctrl-C) stops them,
    # and killing it outright kills them (a parent-death signal).
    with Children() as children:
        # starts beside Streamlit; uploads that come before it answers are checked directly
        url = _prefect_api(children, wait=False)
        if url is not None:
            threading.Thread(target=_announce_prefect, args=(url, children.procs[-1]), daemon=True).start()
        if api_port is not None:  # after Prefect's API is named: its uploads run as flows there too
            echo(f"API: http://{host}:{api_port}/v1")
            children.start([sys.executable, "-m", "isap.cli", "api", "--port", str(api_port), "--host", host],
                           env=os.environ.copy())
        pages = children.start(cmd, env=os.environ.copy())
        # the address is given once it answers: a person who opens it then gets the sign-in form at once
        threading.Thread(target=_announce_dashboard, args=(host, port, pages), daemon=True).start()
        code = pages.wait()
    raise typer.Exit(code)


def _announce_dashboard(host: str, port: int, pages) -> None:
    from isap.orchestration.processes import wait_for_health

    probe = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    if wait_for_health(f"http://{probe}:{port}/_stcore/health", 300, pages):
        echo(f"Dashboard: http://{host}:{port}")
    elif pages.poll() is None:
        echo(f"Dashboard: http://{host}:{port} (it has not answered yet)")


def dashboard_command(port: int, host: str, max_file_bytes: int, secrets: Optional[Path] = None,
                      app_path: Optional[Path] = None) -> list[str]:
    """The `streamlit run` command line of the dashboard.

    Error details are never shown in the browser (`client.showErrorDetails
    none`): pages already turn failures into plain messages, and this is the
    second line of defence against server paths and tracebacks reaching a
    page.  Streamlit's upload limit is whole megabytes, the policy's
    `max_file_bytes` rounded up; the upload page checks the exact bytes.
    """
    import math

    # the pages and the route that serves downloads to the signed-in person only (dashboards/server.py)
    app_path = app_path or Path(__file__).resolve().parent.parent / "dashboards" / "server.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_path), "--server.port", str(port),
           "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--client.toolbarMode", "viewer", "--client.showErrorDetails", "none",
           # no table's own "Download as CSV": a CSV of people's text could carry formulas into a spreadsheet, so
           # data leaves only through the dashboard's own exports, which neutralise them (docs/dashboard.md)
           "--client.disableDataExport", "true",
           # black text: Streamlit's captions are the text colour at 60 %, which then still meets WCAG AA contrast
           "--theme.textColor", "#000000",
           # a served dashboard does not reload its own source: no threads polling the files for changes
           "--server.fileWatcherType", "none",
           # no full garbage collection after every page run: with Prefect loaded it holds the interpreter
           # for about 0.15 s, during which nothing reaches the browser; Python's own collector still runs
           "--runner.postScriptGC", "false",
           "--server.maxUploadSize", str(max(1, math.ceil(max_file_bytes / (1024 * 1024))))]
    if secrets is not None:
        cmd += ["--secrets.files", str(secrets.resolve())]
    return cmd


def _prefect_api(children, wait: bool) -> Optional[str]:
    """Run the Prefect API flows need as a child of this command, unless a Prefect server is configured.

    Prefect would otherwise start a temporary server of its own that outlives
    this command when it is stopped or killed (see isap.orchestration.processes).
    Returns the API's address when this command runs it.
    """
    from isap.orchestration.dispatch import prefect_server_configured
    from isap.orchestration.processes import prefect_server, startup_timeout, wait_for_api

    if prefect_server_configured():
        return None
    url = prefect_server(children, background=not wait)  # not waited for: the pages come first
    if wait and not wait_for_api(url, startup_timeout(), children.procs[-1]):
        _die(f"Prefect's API did not start within {startup_timeout():.0f} s "
             "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)", 1)
    return url


def _announce_prefect(url: str, server) -> None:
    """Say when the dashboard's Prefect API answers, so whoever runs it knows uploads now run as flows."""
    from isap.orchestration.processes import startup_timeout, wait_for_api

    if wait_for_api(url, startup_timeout(), server):
        echo(f"Orchestration: Prefect's API is ready at {url}; uploads run as flows")
    else:
        echo(f"Orchestration: Prefect's API did not start within {startup_timeout():.0f} s; uploads are "
             "checked directly, without it")
    sys.stdout.flush()


def main() -> None:
    """The command line; the installed `isap` command starts here after `isap.command` (which forks the
    checking child of `isap check` before this module is even imported)."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("isap: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - a last resort: one line, never a traceback
        import logging

        logging.getLogger("isap").debug("unexpected failure", exc_info=True)
        sys.stderr.write(
            f"isap: unexpected failure ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})\n"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
