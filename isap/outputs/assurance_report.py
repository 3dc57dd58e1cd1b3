"""The checkpoint assurance report: what was assessed, found, rated, decided and recorded.

One printable HTML page per proposal and checkpoint, for the assurance
letter and the file (and the same content as PDF, from `isap.outputs.letters`).
Everything comes from the service layer (so scoping holds) and is escaped by
the template engine (so text from a submission cannot inject markup), with
bidirectional controls shown as code points (so it cannot disguise itself).
"""

from __future__ import annotations

import datetime as dt
from itertools import groupby

from jinja2 import Environment, PackageLoader, select_autoescape

from isap.review import wording
from isap.review.lifecycle import AssuranceDomain, QueryStatus, QueryStep, WaiverStatus
from isap.review.service import NotFound, Service
from isap.rules.sources import readable
from isap.text import visible_marks

# every value printed shows its bidirectional controls as code points: a right-to-left override in a title or
# rationale would otherwise make it read as something it is not
_ENV = Environment(loader=PackageLoader("isap.outputs", "html"), autoescape=select_autoescape(["html"]),
                   finalize=lambda v: visible_marks(v) if isinstance(v, str) else v)
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
CHECKPOINT_NAMES = wording.CHECKPOINT_NAMES


def report_context(service: Service, actor: str, reference: str, checkpoint: int) -> dict:
    """Everything the report shows, gathered once for the HTML and the PDF."""
    from isap.policy.working_days import describe

    d = service.show(actor, reference)
    reviews = [r for r in d["reviews"] if r["checkpoint"] == checkpoint]
    review = reviews[-1] if reviews else None
    if review is not None:
        number = review["version"]
    else:
        candidates = [v for v in d["versions"] if v["checkpoint"] == checkpoint]
        number = candidates[-1]["number"] if candidates else None
    if number is None and not [h for h in d["history"] if h["checkpoint"] == checkpoint]:
        raise NotFound(f"{reference} has nothing recorded at checkpoint {checkpoint}")
    version = next((v for v in d["versions"] if v["number"] == number), None)
    if version is None:
        findings = []
    elif number == (d["versions"][-1]["number"] if d["versions"] else None):
        findings = d["findings"]
    else:
        findings = [dict(f, acknowledged=None) for f in service.version_findings(actor, reference, number)]
    # the report is read by people: each person by their name (isap.review.unit_of_work.person_words), not their
    # user name, which is a sign-in detail
    if version is not None:
        version = dict(version, uploaded_by=version.get("uploaded_by_name") or version["uploaded_by"])
    # a finding is waived where a waiver granted at this checkpoint names its fingerprint, whichever version it is
    waivers = [dict(w, requested_by=w["requested_by_name"], ruled_by=w["ruled_by_name"])
               for w in d.get("waivers", []) if w["checkpoint"] == checkpoint]
    granted = {w["fingerprint"]: w for w in waivers if w["status"] == "granted"}
    findings = [dict(f, waived=granted.get(f.get("fingerprint"))) for f in findings]
    findings = sorted(findings, key=lambda f: (f["domain"], SEVERITY_ORDER.get(f["severity"], 9), f["rule_id"]))
    # the report is read by people: each source by its document's title, publisher and year
    findings = [dict(f, source_title=readable(f["source"]), severity_label=wording.code(f["severity"]).capitalize(),
                     place=wording.place(f["sheet"], f["cell"]),
                     acknowledged=dict(f["acknowledged"], on=wording.day(f["acknowledged"]["at"]),
                                       by=f["acknowledged"]["by_name"])
                     if f.get("acknowledged") else None) for f in findings]
    by_domain = [(wording.domain(k), list(g)) for k, g in groupby(findings, key=lambda f: f["domain"])]
    head = chain_head(service, f"assurance report {reference} checkpoint {checkpoint}")
    if head["chain_anchor"]:
        head["chain_anchor"] = dict(head["chain_anchor"], when=wording.when(head["chain_anchor"]["at"]))
    return dict(
        p=d, checkpoint=checkpoint, checkpoint_name=CHECKPOINT_NAMES.get(checkpoint, ""), version=version,
        findings=findings, findings_by_domain=by_domain,
        acknowledged=[f for f in findings if f.get("acknowledged")], review=review,
        conditions=[dict(c, due=wording.day(c["due_date"]), status_label=wording.code(c["status"]))
                    for c in d["conditions"] if c["checkpoint"] == checkpoint],
        waivers=[dict(w, status_label=WaiverStatus(w["status"]).label) for w in waivers],
        queries=[dict(q, status_label=QueryStatus(q["status"]).label,
                      thread=[dict(m, author=m["author_name"], step_label=QueryStep(m["step"]).label,
                                   at_words=wording.when(m["at"]),
                                   documents_words=", ".join(map(wording.document_named, m.get("documents", []))))
                              for m in q["thread"]])
                 for q in d.get("queries", []) if q["checkpoint"] == checkpoint],
        # the documents attached for this checkpoint, in words; their names stay text (the template escapes them)
        evidence=[wording.evidence(e) for e in d.get("evidence", []) if e["checkpoint"] == checkpoint],
        # the panel's declarations of interests up to this checkpoint, printed so conflicts are handled openly
        declarations=[x for x in d.get("panel", {}).get("declarations", []) if x["checkpoint"] <= checkpoint],
        history=[dict(h, event=wording.event(h["action"]), **wording.history_row(dict(h, actor=h["actor_name"])))
                 for h in d["history"]
                 if h["checkpoint"] == checkpoint],
        # everything a person reads, in the words of isap.review.wording
        words=dict(
            state=wording.state(d["state"]),
            uploaded=wording.when(version["uploaded_at"]) if version else "",
            ratings=rating_words(review["ratings"], review.get("rated_by")) if review else [],
            outcome=wording.outcome(review["decision"]["outcome"]) if review and review["decision"] else "",
            decided_on=wording.day(review["decision"]["at"]) if review and review["decision"] else "",
            started_on=wording.day(review["started_at"]) if review else "",
        ),
        generated=wording.when(dt.datetime.now(dt.timezone.utc)),
        calendar=describe(service.policy.working_days_calendar),
        **head,
    )


def rating_words(ratings: dict, rated_by: dict | None = None) -> list[tuple[str, str, str, str]]:
    """Each domain's rating in words, in the order of the assurance domains (any other after them): the domain,
    the rating, the rating's code (for its colour), and who gave it (by name and job title, where known)."""
    order = [d.value for d in AssuranceDomain if d.value in ratings]
    return [(wording.domain(k), wording.code(ratings[k]), ratings[k], (rated_by or {}).get(k, ""))
            for k in order + [k for k in ratings if k not in order]]


def chain_head(service: Service, why: str) -> dict:
    """The audit chain's head when a report or letter was made, signed with the audit key where one is
    configured (the anchor is kept in the anchors file too): a later rewrite of history cannot match it."""
    anchor = service.anchor_audit(why)
    if anchor is None:
        return {"chain_head": service.audit_head(), "chain_anchor": None}
    return {"chain_head": anchor.head, "chain_anchor": {"event_id": anchor.event_id, "at": anchor.at,
                                                        "key_id": anchor.key_id, "signature": anchor.signature}}


def render_report(service: Service, actor: str, reference: str, checkpoint: int) -> str:
    return _ENV.get_template("assurance_report.html").render(**report_context(service, actor, reference, checkpoint))
