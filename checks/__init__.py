"""The assurance checks, one package per domain of the rule catalogue.

Each package declares its rules with `isap.rules.registry.assurance_rule` and is named in the
`isap.rules` entry-point group of `pyproject.toml`, which is how the registry finds them.  Checks are
pure functions of the typed workbook model and the policy: no I/O, no database, no orchestration.
"""
