"""The outputs layer: everything people read or download — check reports in every format, the
annotated workbook copy, the checkpoint assurance report and the decision letter.
"""
