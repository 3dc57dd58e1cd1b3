"""Template ISAP-WB 1.0 as data.

The workbook contract (sheets, columns, types, formats, requirements) is
written down once here.  The reader, the schema layer, the template writer,
the annotated copy and the docs all read it, so that a column added to the
template cannot be forgotten by one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

TEMPLATE_VERSION = "1.0"
SUPPORTED_VERSIONS = frozenset({"1.0"})
SECTION_FILE = "ISAP-WB 1.0 §1"


def section_for(sheet: str | None) -> str:
    """The template section that defines a sheet (used as a WB/SCH finding's source)."""
    if sheet is None:
        return SECTION_FILE
    spec = SHEETS_BY_NAME.get(sheet)
    return f"ISAP-WB 1.0 §{spec.section}" if spec else "ISAP-WB 1.0 §2"


class ValueType(str, Enum):
    TEXT = "text"
    INTEGER = "integer"
    MONEY = "money"
    DATE = "date"
    YESNO = "yes/no"
    CHOICE = "choice"


class Format(str, Enum):
    ODS = "ODS organisation code"
    GP_PRACTICE = "GP practice code"
    REFERENCE = "proposal reference"
    SERVICE_ID = "service identifier"
    PARTNER_ID = "partner identifier"
    ENGAGEMENT_ID = "engagement identifier"
    EMAIL = "email address"


FORMAT_PATTERNS: dict[Format, re.Pattern[str]] = {
    Format.ODS: re.compile(r"^[A-Z0-9]{3,6}$"),
    Format.GP_PRACTICE: re.compile(r"^[A-Z][0-9]{5}$"),
    Format.REFERENCE: re.compile(r"^ISAP-[0-9]{4}-[0-9]{3}$"),
    Format.SERVICE_ID: re.compile(r"^SVC-[0-9]{3,}$"),
    Format.PARTNER_ID: re.compile(r"^P-[0-9]{3,}$"),
    Format.ENGAGEMENT_ID: re.compile(r"^E-[0-9]{3,}$"),
    # exactly one @, a dot somewhere after it, no white space (docs/workbook.md §4).  Linear time: the
    # part after @ runs up to its first dot, and possessive quantifiers never give characters back,
    # so a failing match is one pass however many dots follow (the greedy form was quadratic).
    Format.EMAIL: re.compile(r"^[^@\s]*+@[^@\s.]*+\.[^@\s]*+\Z"),
}
FORMAT_EXAMPLES: dict[Format, str] = {
    Format.ODS: "3 to 6 letters or digits, e.g. 05C",
    Format.GP_PRACTICE: "a letter and five digits, e.g. M87001",
    Format.REFERENCE: "ISAP-YYYY-NNN, e.g. ISAP-2026-014",
    Format.SERVICE_ID: "SVC- and at least three digits, e.g. SVC-001",
    Format.PARTNER_ID: "P- and at least three digits, e.g. P-001",
    Format.ENGAGEMENT_ID: "E- and at least three digits, e.g. E-001",
    Format.EMAIL: "name@organisation.nhs.uk",
}
# ODS and GP practice codes are upper-cased before matching; the others are case-sensitive.
UPPERCASED_FORMATS = frozenset({Format.ODS, Format.GP_PRACTICE})


class Need(str, Enum):
    """When a value is required."""

    ALWAYS = "always"
    CP2 = "checkpoint ≥ 2"
    WHEN = "conditional"  # see `Column.when`
    OPTIONAL = "optional"  # or required by a rule that reports the gap itself


@dataclass(frozen=True)
class When:
    """A conditional requirement: required where `column` (same row/sheet) equals `equals`
    (or, with `negate`, where it holds a valid value other than `equals`)."""

    column: str
    equals: str | tuple[str, ...]
    negate: bool = False
    text: str = ""

    def holds(self, value: object) -> bool:
        """Whether the condition holds for a valid typed value (unknown values never hold)."""
        if isinstance(value, bool):
            value = "Yes" if value else "No"
        if not isinstance(value, str):
            return False
        allowed = (self.equals,) if isinstance(self.equals, str) else self.equals
        return (value not in allowed) if self.negate else (value in allowed)


@dataclass(frozen=True)
class Column:
    name: str
    type: ValueType
    need: Need = Need.ALWAYS
    description: str = ""
    choices: tuple[str, ...] = ()
    format: Format | None = None
    minimum: float | None = None
    minimum_exclusive: bool = False
    maximum: float | None = None
    unique: bool = False
    when: When | None = None
    # For an OPTIONAL column that a rule needs (e.g. REL007): the rule needs it
    # only from checkpoint 2.  Used by the WB005 column-presence test.
    rule_need_cp2: bool = False
    # What the field is called in words: the first line of its note in the template and the name every
    # finding about its value uses ("Enter the contact e-mail address (Cover, B22).").
    label: str = ""

    @property
    def required_text(self) -> str:
        if self.need is Need.WHEN and self.when is not None:
            return self.when.text
        if self.need is Need.OPTIONAL:
            return self.when.text if self.when else "optional"
        return self.need.value

    def range_text(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(("more than " if self.minimum_exclusive else "at least ") + _num(self.minimum))
        if self.maximum is not None:
            parts.append("at most " + _num(self.maximum))
        return " and ".join(parts)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class SheetKind(str, Enum):
    TABLE = "table"
    KEY_VALUE = "key/value"


@dataclass(frozen=True)
class SheetSpec:
    name: str
    kind: SheetKind
    section: str
    description: str
    columns: tuple[Column, ...]
    preset_rows: tuple[tuple[str, ...], ...] = field(default=())

    def column(self, name: str) -> Column:
        return self._by_name[name]

    @property
    def _by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


PROVIDER_TYPES = (
    "NHS foundation trust",
    "NHS trust",
    "Local authority",
    "GP federation",
    "Independent sector",
    "Social enterprise",
    "Other",
)
STATUTORY_PROVIDER_TYPES = frozenset({"NHS foundation trust", "NHS trust", "Local authority"})
INTEGRATION_MODELS = ("Partially integrated", "Fully integrated")
SERVICE_CATEGORIES = (
    "Primary medical services",
    "Community health",
    "Mental health",
    "Acute",
    "Urgent care",
    "Public health",
    "Adult social care",
    "Children's services",
    "Other",
)
FUNDING_SOURCES = ("NHS", "Local authority")
DELIVERY = ("Direct", "Subcontracted")
GUARANTOR_TYPES = ("Parent organisation", "Third party", "None")
COMMITMENT_CODES = (
    "BOARD_MEETINGS_PUBLIC",
    "PUBLISH_PERFORMANCE",
    "PUBLISH_FINANCE",
    "HEALTHWATCH",
    "OPEN_BOOK",
    "FOI",
    "COMPLAINTS",
    "DUTY_OF_CANDOUR",
    "CONFLICTS_OF_INTEREST",
    "PUBLIC_INVOLVEMENT",
)
FREQUENCIES = ("Monthly", "Quarterly", "Annually", "Per meeting", "Ongoing")
PARTNER_TYPES = (
    "GP practice",
    "NHS trust",
    "NHS foundation trust",
    "Local authority",
    "Voluntary sector",
    "Independent sector",
    "Primary care network",
    "Healthwatch",
    "Other",
)
RELATIONSHIPS = (
    "Integration agreement",
    "Suspended contract",
    "Subcontract",
    "Alliance agreement",
    "Section 75 agreement",
    "Engagement only",
)
AGREEMENT_STATUSES = ("Not started", "In negotiation", "Heads of terms agreed", "Signed")
GP_CONTRACT_TYPES = ("GMS", "PMS", "APMS")
GP_PARTICIPATION = ("Employed", "Subcontractor")
AUDIENCES = (
    "Patients and public",
    "GP practices",
    "Staff",
    "Local authority",
    "Healthwatch",
    "Voluntary sector",
    "Other providers",
)

T, I, M, D, YN, C = (
    ValueType.TEXT,
    ValueType.INTEGER,
    ValueType.MONEY,
    ValueType.DATE,
    ValueType.YESNO,
    ValueType.CHOICE,
)

COVER = SheetSpec(
    "Cover",
    SheetKind.KEY_VALUE,
    "2.1",
    "The proposal: one field per row, the field name in column A and its value in column B.",
    (
        Column("template_version", T, label="template version", description="Template version: must be 1.0."),
        Column("proposal_reference", T, format=Format.REFERENCE,
               label="proposal reference",
               description="Proposal reference, e.g. ISAP-2026-014; the same for every version of a proposal."),
        Column("proposal_title", T, label="proposal title", description="Short title of the proposal."),
        Column("checkpoint", I, minimum=1, maximum=3,
               label="checkpoint", description="The ISAP checkpoint this submission is for: 1, 2 or 3."),
        Column("lead_commissioner_name", T, label="lead commissioner's name",
               description="Name of the lead commissioner."),
        Column("lead_commissioner_code", T, format=Format.ODS,
               label="lead commissioner's ODS code", description="ODS code of the lead commissioner."),
        Column("provider_name", T, Need.CP2, label="provider's name",
               description="Preferred bidder / prospective ICP (checkpoint 2 on)."),
        Column("provider_code", T, Need.CP2, format=Format.ODS,
               label="provider's ODS code", description="ODS code of the provider (checkpoint 2 on)."),
        Column("provider_type", C, Need.CP2, choices=PROVIDER_TYPES,
               label="provider type", description="Type of provider (checkpoint 2 on)."),
        Column("integration_model", C, choices=INTEGRATION_MODELS,
               label="integration model",
               description="How general practice takes part: partially or fully integrated."),
        Column("contract_start_date", D, label="contract start date",
               description="Date services start under the contract."),
        Column("contract_term_years", I, minimum=1, label="contract term in years",
               description="Contract term in years."),
        Column("extension_years", I, minimum=0, label="extension in years",
               description="Optional extension the contract provides for, in years."),
        Column("population_registered", I, minimum=0,
               label="registered population",
               description="People registered with the ICP or its partially integrated practices."),
        Column("population_resident", I, minimum=0, label="resident population",
               description="People resident in the ICP's area."),
        Column("annual_contract_value_gbp", M, minimum=0, minimum_exclusive=True,
               label="annual contract value", description="Year-1 value of the whole contract, in pounds."),
        Column("wpap_annual_value_gbp", M, minimum=0,
               label="annual WPAP value",
               description="Whole Population Annual Payment within the contract value, in pounds."),
        Column("commissioner_board_approval_date", D,
               label="commissioner board approval date",
               description="Date the commissioner's governing body approved the proposal."),
        Column("provider_board_approval_date", D, Need.CP2,
               label="provider board approval date",
               description="Date the provider's board approved the proposal (checkpoint 2 on)."),
        Column("submission_date", D, label="submission date", description="Date of this submission."),
        Column("contact_email", T, format=Format.EMAIL, label="contact e-mail address",
               description="Contact email for this proposal."),
    ),
)

SERVICES = SheetSpec(
    "Services",
    SheetKind.TABLE,
    "2.2",
    "Service scope: one row per service line.",
    (
        Column(
            "service_id",
            T,
            format=Format.SERVICE_ID,
            unique=True,
            label="service identifier", description="Unique service identifier, e.g. SVC-001.",
        ),
        Column("service_name", T, label="service name", description="Name of the service."),
        Column("category", C, choices=SERVICE_CATEGORIES, label="service category", description="Service category."),
        Column(
            "commissioner_code", T, format=Format.ODS, label="commissioner's ODS code",
            description="ODS code of the body that commissions the service."
        ),
        Column("funding_source", C, choices=FUNDING_SOURCES, label="funding source",
               description="NHS or Local authority."),
        Column("annual_value_gbp", M, minimum=0, minimum_exclusive=True, label="annual value of the service",
               description="Full-year value in pounds."),
        Column(
            "start_year",
            I,
            minimum=1,
            label="start year", description="Contract year in which the service comes into scope (1 = from the start).",
        ),
        Column(
            "anticipated_extension",
            YN,
            label="anticipated extension",
            description="Yes when the service is an anticipated extension of scope during the term.",
        ),
        Column("delivery", C, choices=DELIVERY, label="delivery", description="Delivered directly or subcontracted."),
        Column(
            "subcontractor_id",
            T,
            Need.WHEN,
            format=Format.PARTNER_ID,
            when=When("delivery", "Subcontracted", text="when delivery is Subcontracted"),
            label="subcontractor's identifier",
            description="Partner identifier of the subcontractor (a row of Partners) when delivery is Subcontracted.",
        ),
    ),
)

FINANCE = SheetSpec(
    "Finance",
    SheetKind.TABLE,
    "2.3",
    "Capitalisation and financial plan: one row per contract year.",
    (
        Column("contract_year", I, minimum=1, unique=True, label="contract year",
               description="Contract year (1, 2, …)."),
        Column("planned_income_gbp", M, minimum=0, label="planned income", description="Planned income in pounds."),
        Column("planned_expenditure_gbp", M, minimum=0, label="planned expenditure",
               description="Planned expenditure in pounds."),
        Column("net_assets_gbp", M, label="net assets",
               description="Net assets at the end of the year, in pounds (may be negative)."),
        Column(
            "minimum_assets_gbp", M, minimum=0, label="minimum assets",
            description="Minimum level of assets the provider commits to maintain."
        ),
        Column(
            "working_capital_gbp",
            M,
            minimum=0,
            label="working capital", description="Working capital available (cash and committed facilities).",
        ),
        Column("contingency_reserve_gbp", M, minimum=0, label="contingency reserve",
               description="Contingency reserve in pounds."),
        Column("guarantee_gbp", M, minimum=0, label="guarantee",
               description="Parent or third-party guarantee available in the year."),
        Column("startup_costs_gbp", M, minimum=0, label="start-up costs",
               description="Start-up costs planned in the year."),
    ),
)

SAFEGUARDS = SheetSpec(
    "Safeguards",
    SheetKind.KEY_VALUE,
    "2.4",
    "Financial safeguards: one field per row, the field name in column A and its value in column B.",
    (
        Column(
            "guarantor_type",
            C,
            Need.CP2,
            choices=GUARANTOR_TYPES,
            label="guarantor type", description="Who guarantees the provider (checkpoint 2 on).",
        ),
        Column(
            "guarantor_name",
            T,
            Need.WHEN,
            when=When("guarantor_type", "None", negate=True, text="when guarantor_type is not None"),
            label="guarantor's name", description="Name of the guarantor, when there is one.",
        ),
        Column(
            "no_other_business",
            YN,
            Need.CP2,
            label="no other business",
            description="Yes if the provider carries on no business other than that the contract requires.",
        ),
        Column(
            "distributions_restricted",
            YN,
            Need.CP2,
            label="distributions restricted",
            description="Yes if no funds are distributed unless quality and financial conditions are met.",
        ),
    ),
)

TRANSPARENCY = SheetSpec(
    "Transparency",
    SheetKind.TABLE,
    "2.5",
    "Transparency commitments: one row per commitment code.",
    (
        Column("commitment_code", C, choices=COMMITMENT_CODES, unique=True, label="commitment code",
               description="Commitment code."),
        Column("committed", YN, label="committed", description="Yes if the provider commits to it."),
        Column("frequency", C, Need.OPTIONAL, choices=FREQUENCIES,
               when=When("commitment_code", ("BOARD_MEETINGS_PUBLIC", "PUBLISH_PERFORMANCE", "PUBLISH_FINANCE"),
                         text="see TRN003"),
               label="frequency",
               description="How often (required for board meetings, performance and finance publication)."),
        Column("evidence_reference", T, Need.OPTIONAL, when=When("committed", "Yes", text="see TRN005"),
               rule_need_cp2=True,
               label="evidence reference",
               description="Document, section or URL where the commitment is written down (checkpoint 2 on)."),
    ),
    preset_rows=tuple((c,) for c in COMMITMENT_CODES),
)

PARTNERS = SheetSpec(
    "Partners",
    SheetKind.TABLE,
    "2.6",
    "Relationships: one row per partner organisation.",
    (
        Column(
            "partner_id", T, format=Format.PARTNER_ID, unique=True, label="partner identifier",
            description="Unique partner identifier, e.g. P-001."
        ),
        Column("partner_name", T, label="partner's name", description="Name of the partner organisation."),
        Column(
            "partner_code", T, format=Format.ODS, label="partner's code",
            description="ODS code, or the GP practice code for a GP practice."
        ),
        Column("partner_type", C, choices=PARTNER_TYPES, label="partner type", description="Type of partner."),
        Column("relationship", C, choices=RELATIONSHIPS, label="relationship",
               description="Relationship with the ICP."),
        Column("agreement_status", C, choices=AGREEMENT_STATUSES, label="agreement status",
               description="How far the agreement has got."),
        Column(
            "gp_contract_type",
            C,
            Need.WHEN,
            choices=GP_CONTRACT_TYPES,
            when=When("partner_type", "GP practice", text="for GP practices"),
            label="GP contract type", description="GMS, PMS or APMS (GP practices).",
        ),
        Column(
            "registered_list_size",
            I,
            Need.WHEN,
            minimum=0,
            when=When("partner_type", "GP practice", text="for GP practices"),
            label="registered list size", description="Registered list size (GP practices).",
        ),
        Column(
            "supports_proposal",
            YN,
            Need.WHEN,
            when=When("partner_type", "GP practice", text="for GP practices"),
            label="supports the proposal", description="Yes if the practice supports the proposal (GP practices).",
        ),
        Column(
            "gp_participation",
            C,
            Need.OPTIONAL,
            choices=GP_PARTICIPATION,
            when=When("relationship", "Suspended contract", text="see REL005"),
            label="GP participation",
            description="How the practice's GPs deliver services within the ICP (Suspended contract).",
        ),
        Column(
            "commissioner_approved",
            YN,
            Need.WHEN,
            when=When("relationship", "Subcontract", text="for Subcontract partners"),
            label="commissioner approved", description="Yes if the commissioner approved the subcontract in advance.",
        ),
        Column(
            "direct_agreement",
            YN,
            Need.WHEN,
            when=When("relationship", "Subcontract", text="for Subcontract partners"),
            label="direct agreement",
            description="Yes if a direct agreement between commissioner and subcontractor exists.",
        ),
        Column(
            "patient_notification_date",
            D,
            Need.OPTIONAL,
            when=When("relationship", "Suspended contract", text="see REL007"),
            rule_need_cp2=True,
            label="patient notification date",
            description="When the practice's registered patients are told (Suspended contract).",
        ),
    ),
)

ENGAGEMENT = SheetSpec(
    "Engagement",
    SheetKind.TABLE,
    "2.7",
    "Evidence of engagement: one row per engagement event.",
    (
        Column(
            "engagement_id",
            T,
            format=Format.ENGAGEMENT_ID,
            unique=True,
            label="engagement identifier", description="Unique engagement identifier, e.g. E-001.",
        ),
        Column("engagement_date", D, label="engagement date", description="Date of the event."),
        Column("audience", C, choices=AUDIENCES, label="audience", description="Who was engaged."),
        Column("method", T, label="method", description="How, e.g. public meeting, survey, LMC meeting."),
        Column("participants", I, minimum=0, label="number of participants", description="Number of participants."),
        Column("summary", T, label="summary", description="What was discussed and what came of it."),
    ),
)

SHEETS: tuple[SheetSpec, ...] = (COVER, SERVICES, FINANCE, SAFEGUARDS, TRANSPARENCY, PARTNERS, ENGAGEMENT)
SHEETS_BY_NAME: dict[str, SheetSpec] = {s.name: s for s in SHEETS}
SHEET_ORDER: dict[str, int] = {s.name: i for i, s in enumerate(SHEETS)}
IGNORED_SHEETS = ("Instructions", "Findings")
ERROR_LITERALS = frozenset({"#REF!", "#DIV/0!", "#N/A", "#VALUE!", "#NAME?", "#NULL!", "#NUM!",
                            "#GETTING_DATA", "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#UNKNOWN!",
                            "#CONNECT!", "#BUSY!", "#PYTHON!", "#EXTERNAL!"})


def normalise_name(name: object) -> str:
    """Sheet, header and field names match case-folded, trimmed, `_` as a space
    (inner runs of spaces are not collapsed)."""
    return str(name).strip().casefold().replace("_", " ")


def column_letter(index: int) -> str:
    """0-based column index to Excel letters."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
