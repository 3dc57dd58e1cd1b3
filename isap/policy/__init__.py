"""Assurance-policy thresholds, in one typed settings object.

The numbers here are this engine's defaults, not figures published by NHS
England (docs/rules.md marks them *policy*).  They can be overridden by a TOML
file, and every report states the values it used, so a finding can always be
traced to the threshold that produced it.

The policy is a frozen dataclass whose fields carry their description and
their limits; pydantic checks a policy only when it differs from the defaults
(`validated`, through a model made from those same fields).  The defaults are
known good (a test checks them), so a cold `isap check` without a policy file
neither builds that model of some fifty fields nor waits for pydantic before
forking its checking child (docs/performance.md).
"""

from __future__ import annotations

import functools
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from isap.policy.evidence import DEFAULT_REQUIRED, EvidenceKind

POLICY_FILE_NAME = "isap-policy.toml"
# The longest lease a run may hold its staged uploads by: a machine tells a run at work (renewing a lease at most
# this long) from a run waiting in the queue (claimed for minutes) by it, whatever lease each machine's policy sets.
LONGEST_RUN_LEASE_SECONDS = 30.0
# a domain name as DNS spells it: dot-separated labels of lower-case letters, digits and inner hyphens
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


class PolicyError(ValueError):
    """A policy file that cannot be used; the message says why."""


def setting(default: Any, *, description: str, gt: float | None = None, ge: float | None = None,
            le: float | None = None, pattern: str | None = None) -> Any:
    """A policy field: its default, what it sets (docs/policy.md is made from it) and the limits a value given
    in its place must keep (`gt`, `ge`, `le`, `pattern`, as pydantic's `Field` spells them)."""
    limits = {k: v for k, v in (("gt", gt), ("ge", ge), ("le", le), ("pattern", pattern)) if v is not None}
    return field(default=default, metadata={"description": description, "limits": limits})


@dataclass(frozen=True)
class Policy:
    """Every threshold and setting isap applies.  `Policy()` is the defaults; `Policy(field=value, ...)` and
    `Policy.from_toml` check what differs from them (a pydantic `ValidationError`, a `PolicyError` for a
    file)."""

    # Capitalisation
    working_capital_months: float = setting(
        1.0, gt=0, description="CAP004: months of contract value year-1 working capital must cover."
    )
    # Service scope
    scope_tolerance_gbp: float = setting(
        1000.0,
        ge=0,
        description="SCP007: absolute tolerance in pounds (the larger of this and the percentage applies).",
    )
    scope_tolerance_fraction: float = setting(
        0.005, ge=0, description="SCP007: tolerance as a fraction of annual_contract_value_gbp."
    )
    population_tolerance_fraction: float = setting(
        0.05, ge=0, description="SCP010: allowed difference between practices' list sizes and population_registered."
    )
    # Relationships
    material_subcontract_fraction: float = setting(
        0.10, ge=0, description="REL010: share of annual_contract_value_gbp that makes a subcontract material."
    )
    # Governance: where notifications can go
    mail_domains: tuple[str, ...] = setting(
        ("nhs.net", "nhs.uk"),
        description="GOV004: the mail domains (subdomains included) where a proposal's contact_email is sent "
                    "notifications; a contact elsewhere is a warning, and is sent nothing.",
    )
    # Workbook safety (WB003)
    max_file_bytes: int = setting(26_214_400, gt=0, description="WB003: largest file accepted, in bytes.")
    max_uncompressed_bytes: int = setting(
        262_144_000, gt=0, description="WB003: largest total of uncompressed parts, in bytes."
    )
    max_compression_ratio: float = setting(
        200.0, gt=0, description="WB003: largest uncompressed ÷ compressed ratio of any part."
    )
    max_rows_per_sheet: int = setting(
        100_000, gt=0, description="WB003: most rows holding a value or formula in any sheet."
    )
    max_cells_per_sheet: int = setting(
        5_000_000, gt=0, description="WB003: largest area (rows × columns) a sheet's values may span."
    )
    max_cells_per_workbook: int = setting(
        1_400_000, gt=0,
        description="WB003: largest total area (rows × columns) the values of all a workbook's sheets may span: "
                    "what the reader holds in memory follows it.")
    max_seconds_per_file: float = setting(60.0, gt=0, description="Time budget for assessing one file.")
    max_scan_cpu_seconds: float = setting(
        10.0, gt=0, description="WB003: processor seconds the safety scan of one file may use.")
    max_irregular_tags: int = setting(
        2_000_000, gt=0,
        description="WB003: most XML tags, over all worksheets not written in the usual spelling, that the scan "
                    "measures tag by tag (about a second of processor time per 300,000).")
    max_special_cells: int = setting(
        100_000, gt=0,
        description="WB003: most cells of one sheet showing an error value or a formula with no cached value.")
    max_sheets: int = setting(
        1_000, gt=0, description="WB003: most sheets in a workbook (the template has nine).")
    max_part_nodes: int = setting(
        300_000, gt=0,
        description="WB003: most XML tags and attributes (each `<` and each `=`) in one of the parts the safety scan "
                    "reads whole (the content types, the relationships, the workbook part, the styles part); 20,000 "
                    "cell formats as Excel writes them take about 260,000.")
    max_shared_strings: int = setting(
        1_000_000, gt=0, description="WB003: most entries in the workbook's shared strings part.")
    max_shared_strings_bytes: int = setting(
        52_428_800, gt=0, description="WB003: largest shared strings part, uncompressed, in bytes.")
    max_shared_strings_elements: int = setting(
        4_000_000, gt=0,
        description="WB003: most XML elements in the shared strings part (an entry of plain text is two; each run "
                    "of formatted text adds a few). The reader parses the whole part each time it opens the "
                    "workbook.")
    max_shared_text_bytes: int = setting(
        33_554_432, gt=0,
        description="WB003: most text, in bytes, that a workbook's cells may hold once read: the copies cells naming "
                    "shared strings make of them, and inline strings and formula text results, each character "
                    "counted at 1, 2 or 4 bytes as Python holds the text (4 when it has one above U+FFFF); a "
                    "shared string counts as written in the file, its formatting and escapes with its text, each "
                    "byte weighted by the entry's widest character as Python holds it (4 with one above U+FFFF, "
                    "2 with one above U+00FF or in a part not in UTF-8).")
    # Evidence documents (docs/workflow.md, "Evidence")
    max_evidence_bytes: int = setting(
        26_214_400, gt=0, description="Largest evidence document accepted, in bytes.")
    max_evidence_cpu_seconds: float = setting(
        10.0, gt=0,
        description="Processor seconds the child checking one evidence document may use (at most max_cpu_seconds); "
                    "a real document takes well under one.")
    max_evidence_memory_bytes: int = setting(
        201_326_592, ge=16_777_216,
        description="Memory, in bytes, that checking one evidence document may add to the child checking it "
                    "(within max_memory_bytes).")
    evidence_guard_from_checkpoint: int = setting(
        2, ge=1, le=4,
        description="The first checkpoint whose submission needs every evidence_reference to name an attached "
                    "document and the required kinds attached (4: never).")
    evidence_required_at_checkpoint_1: tuple[str, ...] = setting(
        DEFAULT_REQUIRED[1], description="Kinds of evidence document a checkpoint 1 submission needs attached for it.")
    evidence_required_at_checkpoint_2: tuple[str, ...] = setting(
        DEFAULT_REQUIRED[2], description="Kinds of evidence document a checkpoint 2 submission needs attached for it.")
    evidence_required_at_checkpoint_3: tuple[str, ...] = setting(
        DEFAULT_REQUIRED[3], description="Kinds of evidence document a checkpoint 3 submission needs attached for it.")
    # Upload quota: refused files and files that cannot name their proposal are kept, so they are bounded
    max_kept_unassigned_uploads: int = setting(
        50,
        gt=0,
        description="Most uploads one organisation may have kept that were refused or could not name their proposal.",
    )
    max_kept_unassigned_bytes: int = setting(
        262_144_000,
        gt=0,
        description="Largest total size, in bytes, of one organisation's kept uploads that were refused or "
                    "could not name their proposal.",
    )
    # Storage quotas: every version and evidence document is kept byte for byte, so what one proposal and one
    # organisation keep is bounded
    max_proposal_bytes: int = setting(
        209_715_200,
        gt=0,
        description="Largest total size, in bytes, of the versions and evidence documents one proposal keeps; a "
                    "version or document past it is refused.",
    )
    max_organisation_bytes: int = setting(
        2_147_483_648,
        gt=0,
        description="Largest total size, in bytes, of everything one organisation keeps (versions and evidence "
                    "documents of its proposals, and its unassigned uploads); an upload or document past it is "
                    "refused.",
    )
    # Output
    max_findings_per_rule: int = setting(
        500,
        gt=0,
        description="Most findings of one rule on one sheet listed; the rest are counted in one more finding.",
    )
    # Isolation of each file's check (WB003 when exhausted)
    max_cpu_seconds: float = setting(
        60.0, gt=0, description="WB003: processor seconds the child checking one file may use."
    )
    max_memory_bytes: int = setting(
        3_221_225_472, ge=536_870_912, description="WB003: address space, in bytes, of the child checking one file."
    )
    # Workflow
    review_target_working_days: int = setting(
        20, gt=0, description="Target working days a submission may wait in review."
    )
    condition_due_soon_working_days: int = setting(
        5, ge=0, le=260,
        description="Working days before its due date that an open condition is due soon: its owner and the "
                    "proposal's contact are reminded, and the dashboard marks it.")
    submission_reminder_working_days: int = setting(
        10, ge=0, le=260,
        description="Working days before a planned submission date that the proposal's commissioners and contact "
                    "are reminded of it (and reminded again once it passes without a submission).")
    countersign_other_body: tuple[int, ...] = setting(
        (2, 3),
        description="The checkpoints at which a proposed decision must be countersigned by a reviewer of the other "
                    "body (NHS England or NHS Improvement) than its proposer's; at the others any second reviewer "
                    "may countersign. A decision always needs two reviewers.")
    working_days_calendar: str = setting(
        "GB-ENG", pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        description="Bank holidays that working days leave out: ISO country and subdivision as the holidays "
                    "library names them (GB-ENG: England).")

    # Orchestration (uploads checked by flow runs, on workers where a deployment is configured)
    transient_retry_seconds: float = setting(
        30.0, gt=0, le=3600,
        description="How long a step keeps retrying a lost database connection or a busy store before the upload "
                    "is failed: long enough to ride out a database restart.")
    run_lease_seconds: float = setting(
        LONGEST_RUN_LEASE_SECONDS, ge=5, le=LONGEST_RUN_LEASE_SECONDS,
        description="How long a run's staged uploads stay its own without a sign of life (the run renews its lease "
                    "every third of this while it works): uploads of a worker machine lost mid-run are taken up "
                    "again by another this long after its last renewal. At most 30 s, whatever each machine sets: "
                    "a lease reaching further is taken for a run waiting in the queue, not one at work.")
    upload_wait_seconds: float = setting(
        20.0, gt=0, le=600,
        description="How long the dashboard waits for a worker to check an upload before saying it is queued "
                    "(the findings show when they land).")
    check_wait_seconds: float = setting(
        300.0, gt=0, le=3600,
        description="How long a file may wait for a free checking child (users take turns) before its check is "
                    "given up and its sender told to upload it again.")
    check_reserve_children: int = setting(
        1, ge=0, le=4,
        description="Checking children kept beyond the pool's, for an uploader (or their organisation) with no "
                    "check under way while other uploaders hold every child: their file starts at once.")
    batch_order_wait_seconds: float = setting(
        600.0, gt=0,
        description="How long a file of an inbox batch waits for an earlier file of the same proposal to be kept "
                    "before it is kept anyway (versions follow file names while they can).")

    # Sign-in (the dashboard's local accounts)
    session_absolute_hours: float = setting(
        8.0, gt=0, description="Hours a dashboard sign-in lasts at most, however active.")
    session_idle_minutes: float = setting(
        60.0, gt=0, description="Minutes without activity after which a dashboard sign-in ends.")
    sign_in_max_failures: int = setting(
        5, gt=0, description="Consecutive failed sign-ins for one user name that lock the name out.")
    sign_in_failure_window_minutes: float = setting(
        15.0, gt=0, description="Minutes within which that many failures lock the user name out.")
    sign_in_lockout_minutes: float = setting(
        15.0, gt=0, description="Minutes a locked-out user name is refused (an administrator can unlock it).")
    min_password_length: int = setting(
        8, ge=1, description="Fewest characters a new password may have (docs/decisions/0046-password-length.md).")
    # The cost of each new password hash (argon2id); the defaults are argon2's RFC 9106 low-memory profile.
    # A hash keeps the cost it was made with, so changing these never locks anyone out.
    password_hash_time_cost: int = setting(
        3, ge=1, description="argon2id passes over memory for each new password hash.")
    password_hash_memory_kib: int = setting(
        65_536, ge=8, description="argon2id memory for each new password hash, in KiB (each check takes as much).")
    password_hash_parallelism: int = setting(
        4, ge=1, description="argon2id lanes for each new password hash.")

    # The HTTP API (personal API tokens)
    api_token_days: int = setting(
        90, gt=0, le=366, description="Days a personal API token acts before it expires (a new one is made then).")
    api_requests_per_minute: int = setting(
        60, gt=0, description="Requests one account may make through its API tokens, together, in any minute; "
                              "more are answered 429 with Retry-After.")

    def sends_mail_to(self, address: str | None) -> bool:
        """Whether isap sends mail to `address`: see `mail_refusal`."""
        return self.mail_refusal(address) is None

    def mail_refusal(self, address: str | None) -> str | None:
        """Why isap sends no mail to `address`, in words, or None when it does: it must be one plain e-mail
        address (`isap.policy.addresses`) at one of `mail_domains` or a subdomain of one (case-insensitive).
        `trust.nhs.uk` is within nhs.uk; `evil-nhs.net` is not within nhs.net."""
        from isap.policy.addresses import AddressRefused, plain_address

        try:
            domain = plain_address(address).domain
        except AddressRefused as exc:
            return f"it is not a plain e-mail address ({exc})"
        if any(domain == d or domain.endswith("." + d) for d in self.mail_domains):
            return None
        return f"isap sends mail only to {self.mail_domain_words()}"

    def mail_domain_words(self) -> str:
        """The mail domains in words, for messages that say where isap sends mail."""
        if not self.mail_domains:
            return "no domain (policy mail_domains is empty)"
        names = list(self.mail_domains)
        shown = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"addresses at {shown} (policy mail_domains), subdomains included"

    def required_evidence(self, checkpoint: int) -> tuple[EvidenceKind, ...]:
        """The kinds a submission for `checkpoint` needs attached for it: none before
        `evidence_guard_from_checkpoint`."""
        if checkpoint < self.evidence_guard_from_checkpoint or checkpoint not in (1, 2, 3):
            return ()
        return tuple(EvidenceKind(k) for k in getattr(self, f"evidence_required_at_checkpoint_{checkpoint}"))

    def __post_init__(self) -> None:
        # The defaults need no checking; any other value is checked, and given its field's type, by pydantic.
        if any(not _is_default(getattr(self, f.name), f.default) for f in fields(self)):
            for name, value in validated({f.name: getattr(self, f.name) for f in fields(self)}).items():
                object.__setattr__(self, name, value)

    @classmethod
    def from_toml(cls, path: Path) -> "Policy":
        import tomllib  # (only a policy file needs it)

        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
        section: Any = data.get("policy", data)
        if not isinstance(section, dict):
            raise PolicyError(f"policy file {path}: [policy] must be a table")
        from pydantic import ValidationError

        try:
            values = validated(section)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}" for e in exc.errors()
            )
            raise PolicyError(f"policy file {path}: {problems}") from None
        policy = object.__new__(cls)  # checked already: not again by __post_init__
        for name, value in values.items():
            object.__setattr__(policy, name, value)
        return policy

    def values(self) -> dict[str, float | int | str | list[str]]:
        # as JSON keeps them (a tuple is a list), so a report reads the same before and after it is stored
        return {f.name: _as_json(getattr(self, f.name)) for f in fields(self)}


def _is_default(value: Any, default: Any) -> bool:
    # by type too: 1 where 1.0 is the default, or a list where a tuple is, still needs its field's type
    return type(value) is type(default) and value == default


def _as_json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# The checks of single fields beyond their type and limits, each raising ValueError with the reason;
# `validated` runs them after pydantic has given the value its field's type.

def _domain_names(value: tuple[str, ...]) -> tuple[str, ...]:
    # written as mail systems compare them, so a domain cannot silently fail to match by its case
    for domain in value:
        if not _DOMAIN_NAME.fullmatch(domain):
            raise ValueError(f"{domain!r} is not a lower-case domain name (for example nhs.net)")
    return value


def _checkpoints(value: tuple[int, ...]) -> tuple[int, ...]:
    for checkpoint in value:
        if checkpoint not in (1, 2, 3):
            raise ValueError(f"{checkpoint} is not a checkpoint (1, 2 or 3)")
    return tuple(sorted(set(value)))


def _evidence_kinds(value: tuple[str, ...]) -> tuple[str, ...]:
    known = {k.value for k in EvidenceKind}
    for kind in value:
        if kind not in known:
            raise ValueError(f"{kind!r} is not a kind of evidence (use {', '.join(sorted(known))})")
    return tuple(dict.fromkeys(value))


def _known_calendar(value: str) -> str:
    # the default is known good; only a changed calendar pays for loading the holidays library
    if value != "GB-ENG":
        from isap.policy.working_days import CalendarError, parse_calendar

        try:
            parse_calendar(value)
        except CalendarError as exc:
            raise ValueError(str(exc)) from None
    return value


FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "mail_domains": _domain_names,
    "countersign_other_body": _checkpoints,
    "evidence_required_at_checkpoint_1": _evidence_kinds,
    "evidence_required_at_checkpoint_2": _evidence_kinds,
    "evidence_required_at_checkpoint_3": _evidence_kinds,
    "working_days_calendar": _known_calendar,
}


# ------------------------------------------------------------------- checking a policy that is not the defaults
# With pydantic, imported only here: a command using the defaults never builds this model (docs/performance.md).

@functools.cache
def policy_model() -> type:
    """The pydantic model of `Policy`: the same fields, types, defaults, descriptions and limits, no unknown
    field, and `FIELD_CHECKS` after each field's type (docs/policy.md is made from it)."""
    from pydantic import ConfigDict, Field, create_model, field_validator

    hints = typing.get_type_hints(Policy)
    declared: dict[str, Any] = {
        f.name: (hints[f.name], Field(f.default, description=f.metadata["description"], **f.metadata["limits"]))
        for f in fields(Policy)
    }
    checks = {f"_check_{name}": field_validator(name)(_validator(check)) for name, check in FIELD_CHECKS.items()}
    return create_model("Policy", __config__=ConfigDict(frozen=True, extra="forbid"), __validators__=checks,
                        **declared)


def _validator(check: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def run(cls: Any, value: Any) -> Any:
        return check(value)

    return run


def validated(values: dict[str, Any]) -> dict[str, Any]:
    """Every field's value: `values` checked and given their fields' types, over the defaults.  Raises pydantic's
    ValidationError naming each field that is wrong and why."""
    model = policy_model()(**values)
    return {name: getattr(model, name) for name in type(model).model_fields}
