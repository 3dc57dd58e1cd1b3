"""The rules layer: the registry of assurance rules and the engine that checks a workbook against them.

The rules themselves live in the top-level `checks` package and are handed to the registry
(through the `isap.rules` entry-point group); this layer never imports them.
"""
