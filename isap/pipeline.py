"""The upload pipeline's steps as plain functions.

`isap upload` and the dashboard call `upload_file`, which runs the steps in
process: check the workbook, keep the original, persist the version and its
findings.  The same steps are what an orchestrated flow would wrap as tasks.
"""

from __future__ import annotations

from isap.workflow import Service, UploadResult


def upload_file(service: Service, actor: str, filename: str, data: bytes) -> UploadResult:
    return service.upload(actor, filename, data)
