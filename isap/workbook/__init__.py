"""The workbook layer: turn untrusted bytes into the typed model of template ISAP-WB 1.0, or into findings.

Everything here is pure reading: the template definition, the safety scan, typed values, the
pandera schemas, the parser, the model and the blank template writer.  Nothing here knows
about rules, reviews, databases or orchestration.
"""
