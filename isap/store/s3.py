"""Originals in an S3 bucket, for a deployment that keeps them beside its database rather than in it.

Chosen by `ISAP_ORIGINALS=s3://bucket/prefix` (`isap.store.originals`).  Any
S3-compatible service will do: where it is and who isap is there come from the
standard AWS settings (`AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, or a role the machine has), never
from isap's own settings, so no secret is written where isap keeps its
configuration.

An original is kept under `<prefix>/<sha[:2]>/<sha>`, so it is written once
however often it is uploaded, and an object left behind by an upload whose
transaction was then rolled back is harmless: it is the same bytes any later
upload of that file would write.  Its bytes are checked against their name on
the way in (S3 refuses an object whose SHA-256 does not match the one sent
with it) and again on the way out, so a damaged object is reported, never
served.

boto3 is imported only when this store is first used: commands on an
installation that keeps its originals in the database never load it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from isap.store.digests import OriginalsError, checked_digest

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# S3's own rule for bucket names (lower case, digits, dots and hyphens, 3 to 63 characters)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ABSENT = {"404", "NoSuchKey", "NotFound"}


class S3Originals:
    """Originals as objects in one bucket, under one prefix."""

    def __init__(self, bucket: str, prefix: str = "", client=None):
        if not _BUCKET.match(bucket or ""):
            raise OriginalsError(f"{bucket!r} is not an S3 bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> "S3Originals":
        """The store named by `s3://bucket[/prefix]`."""
        parts = urlsplit(url.strip())
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise OriginalsError(f"{url!r}: name the store as s3://bucket/prefix")
        return cls(parts.netloc, parts.path)

    # ------------------------------------------------------------------ the client
    @property
    def client(self):
        """The S3 client, made on first use (one for the process: boto3's clients are safe across threads)."""
        with self._lock:
            if self._client is None:
                try:
                    import boto3
                    from botocore.config import Config

                    # boto3 reads the endpoint, region and credentials from the standard AWS settings;
                    # retries in the standard mode ride out a throttled or briefly unreachable service
                    self._client = boto3.session.Session().client(
                        "s3", config=Config(retries={"mode": "standard", "max_attempts": 5},
                                            connect_timeout=10, read_timeout=60))
                except Exception as exc:  # noqa: BLE001 - a bad setting is told in one line, like every failure
                    raise OriginalsError(f"cannot reach the S3 store of originals: {_failure(exc)}") from None
            return self._client

    def key(self, sha256: str) -> str:
        checked_digest(sha256)
        return f"{self.prefix}/{sha256[:2]}/{sha256}" if self.prefix else f"{sha256[:2]}/{sha256}"

    # ------------------------------------------------------------------ the protocol
    def put(self, data: bytes, session: Session | None = None) -> str:
        # `session` is not S3's to join: the object is written before the caller's transaction commits, so
        # the record of an upload never exists without its bytes (an object whose record is rolled back is
        # harmless, see the module's docstring).
        sha = hashlib.sha256(data).hexdigest()
        size = self._size(sha)
        if size == len(data):
            return sha  # kept already: content-addressed, so the same bytes
        client = self.client
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        try:
            answer = client.put_object(Bucket=self.bucket, Key=self.key(sha), Body=data, ChecksumSHA256=checksum,
                                       ContentType="application/octet-stream")
        except _boto_errors() as exc:
            raise OriginalsError(f"cannot keep the original {sha[:12]}… in {self.describe_bucket()}: "
                                 f"{_failure(exc)}") from None
        # S3 refuses bytes that do not match the checksum sent with them and answers with the one it kept;
        # a service that answers with another one did not keep these bytes
        kept = answer.get("ChecksumSHA256") if isinstance(answer, dict) else None
        if kept is not None and kept != checksum:
            raise OriginalsError(f"the original {sha[:12]}… was not kept intact in {self.describe_bucket()}")
        return sha

    def get(self, sha256: str) -> bytes:
        key, client = self.key(sha256), self.client
        try:
            body = client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                data = body.read()
            finally:
                body.close()
        except _boto_errors() as exc:
            if _code(exc) in _ABSENT:
                raise OriginalsError(f"the original {sha256[:12]}… is not in {self.describe_bucket()}") from None
            raise OriginalsError(f"the original {sha256[:12]}… cannot be read from {self.describe_bucket()}: "
                                 f"{_failure(exc)}") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise OriginalsError(f"the original {sha256[:12]}… in {self.describe_bucket()} is corrupt: its bytes "
                                 "do not match their SHA-256")
        return data

    def has(self, sha256: str) -> bool:
        return self._size(sha256) is not None

    def describe(self) -> str:
        where = self.describe_bucket()
        try:
            host = urlsplit(self.client.meta.endpoint_url or "").hostname
        except OriginalsError:
            host = None
        return f"{where} at {host}" if host else where

    def describe_bucket(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    # ------------------------------------------------------------------ helpers
    def _size(self, sha256: str) -> int | None:
        """The size of the object kept under `sha256`, or None when there is none."""
        key, client = self.key(sha256), self.client
        try:
            head = client.head_object(Bucket=self.bucket, Key=key)
        except _boto_errors() as exc:
            if _code(exc) in _ABSENT:
                return None
            raise OriginalsError(f"cannot look for the original {sha256[:12]}… in {self.describe_bucket()}: "
                                 f"{_failure(exc)}") from None
        return int(head.get("ContentLength", -1))


def _boto_errors() -> tuple[type[BaseException], ...]:
    """What a request to S3 can fail with (botocore is loaded by then: the client was made)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, OSError)


def _code(exc: BaseException) -> str:
    """The S3 error code of a refused request ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _failure(exc: BaseException) -> str:
    """A failure in a few words: the service's error code, or the kind of failure.

    Never the exception's text: botocore puts request details there, and an
    original's name or a credential must not reach a log or a page through it.
    """
    code = _code(exc)
    if code == "403" or code == "AccessDenied":
        return "access denied (the credentials need s3:GetObject, s3:PutObject and s3:ListBucket on the bucket)"
    if code in ("NoSuchBucket",):
        return "no such bucket"
    if code:
        return code
    names = {"NoCredentialsError": "no AWS credentials are set",
             "EndpointConnectionError": "the endpoint cannot be reached",
             "ConnectTimeoutError": "the endpoint did not answer in time",
             "ReadTimeoutError": "the endpoint did not answer in time",
             "FlexibleChecksumError": "the bytes received do not match their checksum"}
    return names.get(type(exc).__name__, type(exc).__name__)
