"""Attaching what a submission needs (docs/workflow.md, "Evidence"), for tests that submit at checkpoints 2 and 3."""

from __future__ import annotations

from sample_submissions.evidence import sample_pdf

PAPER = sample_pdf("A paper")
CONTRACT = "ICP contract schedule 7"  # what the clean workbooks' evidence_reference values name


def attach_required(svc, actor: str, reference: str, checkpoint: int | None = None) -> None:
    """Attach the kinds the policy requires at `checkpoint` (default: the proposal's), the integration agreement
    with the reference the clean workbooks cite (once per proposal; a later one gets a reference of its own)."""
    cp = checkpoint or svc.show(actor, reference)["checkpoint"]
    have = {d["reference"] for d in svc.evidence_list(actor, reference)}
    for kind in svc.policy.required_evidence(cp):
        ref = CONTRACT if kind == "integration_agreement" and CONTRACT not in have else f"{kind.label}, cp {cp}"
        if ref not in have:
            svc.attach_evidence(actor, reference, f"{kind}.pdf", PAPER, kind, kind.label, ref)
            have.add(ref)
