"""isap: the assurance workflow engine for ICP proposals under the Integrated Support and Assurance Process.

The packages are layers; each imports only from the layers below it (enforced by the import
contracts in pyproject.toml):

- `isap.policy`: the typed assurance policy (thresholds, limits, working-day calendar);
- `isap.workbook`: reading an untrusted ISAP-WB 1.0 workbook into the typed model, safely;
- `isap.rules`: the rule registry and the engine that runs the rules of `checks/` on the model;
- `isap.store`: the database tables and the kept file bytes;
- `isap.review`: the review of a proposal through the checkpoints (state machine, service);
- `isap.composition`: the one place that wires policy, store and service together;
- `isap.outputs`: what people read (text, JSON, JUnit, Markdown, annotated copy, reports, letters);
- `isap.orchestration`: the Prefect flows, dispatch to them, and the processes isap starts;
- `isap.cli` and the Streamlit app in `dashboards/`: the two front doors.
"""
