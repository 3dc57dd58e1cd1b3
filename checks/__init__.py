"""The assurance checks, one package per domain of the rule catalogue.

Importing this package registers every rule with `isap.registry`.  Checks
depend on the workbook model and the policy only: no I/O, no database, no
orchestration.
"""

from checks import capitalisation, governance, relationships, service_scope, transparency, workbook  # noqa: F401
