"""Drill evidence and the drill journal in S3: conditional writes, never an overwrite.

A record is put with `IfNoneMatch="*"`: S3 refuses (412 PreconditionFailed) to replace
an existing key, so an earlier run's evidence cannot be lost to a later one. The
sandbox's moto honours the condition (a test proves it). Journal entries are one
object each, written the same way.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from keyplane.audit.evidence import DrillResult, EvidenceError
from keyplane.drills.errors import JOURNAL_FAILED, DrillSetupError


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix ending in `/` or empty) of an s3:// URI."""
    u = urlparse(uri)
    if u.scheme != "s3" or not u.netloc:
        raise EvidenceError(f"evidence location must be s3://bucket/prefix, got {uri}")
    prefix = u.path.lstrip("/")
    return u.netloc, (prefix if not prefix or prefix.endswith("/") else prefix + "/")


class S3EvidenceStore:
    """Evidence records as JSON objects under `s3://bucket/prefix`."""

    def __init__(self, s3: Any, uri: str) -> None:
        self._s3 = s3
        self.uri = uri
        self.bucket, self.prefix = parse_s3_uri(uri)

    def ensure_writable(self) -> None:
        """Prove a record can be written now: a probe object, put and removed."""
        key = f"{self.prefix}.keyplane-probe"
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=b"probe")
            self._s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise EvidenceError(f"cannot write evidence to {self.uri}: {_why(exc)}") from None

    def put(self, result: DrillResult) -> str:
        """Put the record unless its key exists (IfNoneMatch); EvidenceError otherwise."""
        key = f"{self.prefix}{result.record_name()}"
        body = json.dumps(result.to_dict(), indent=2, sort_keys=True).encode() + b"\n"
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*",
                                ContentType="application/json")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed",
                                                              "ConditionalRequestConflict"):
                raise EvidenceError(f"evidence record {result.record_name()} already exists; "
                                    "keyplane never overwrites evidence") from None
            raise EvidenceError(f"cannot write evidence to {self.uri}: {_why(exc)}") from None
        except BotoCoreError as exc:
            raise EvidenceError(f"cannot write evidence to {self.uri}: {_why(exc)}") from None
        return f"s3://{self.bucket}/{key}"

    def history(self, environment: str | None = None) -> list[DrillResult]:
        """Every record under the prefix, oldest first."""
        out = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=self.prefix):
                for o in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
                    rest = o["Key"][len(self.prefix):]
                    if "/" in rest or not rest.endswith(".json"):
                        continue
                    data = self._s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()
                    try:
                        r = DrillResult.from_dict(json.loads(data))
                    except (ValueError, TypeError) as exc:
                        raise EvidenceError(f"unreadable evidence record {o['Key']}: "
                                            f"{exc}") from None
                    if environment is None or r.environment == environment:
                        out.append(r)
        except (ClientError, BotoCoreError) as exc:
            raise EvidenceError(f"cannot read evidence from {self.uri}: {_why(exc)}") from None
        return sorted(out, key=lambda r: r.record_name())


class S3JournalStore:
    """Journal entries as objects `<prefix>journal/<target>/<seq>.json`, never overwritten."""

    def __init__(self, s3: Any, uri: str) -> None:
        self._s3 = s3
        self.bucket, prefix = parse_s3_uri(uri)
        self.prefix = f"{prefix}journal/"
        self._seq: dict[str, int] = {}

    def _entries(self, target: str) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}{target}/"):
            for o in page.get("Contents", []):
                body = self._s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()
                out.append((o["Key"], json.loads(body)))
        return sorted(out)

    def append(self, target: str, entry: dict[str, Any]) -> None:
        """Write the next entry; a name already taken (another writer) moves on to the next."""
        try:
            seq = self._seq.get(target)
            if seq is None:
                seq = len(self._entries(target))
            for _ in range(100):
                key = f"{self.prefix}{target}/{seq:08d}.json"
                try:
                    self._s3.put_object(Bucket=self.bucket, Key=key, IfNoneMatch="*",
                                        Body=json.dumps(entry, sort_keys=True).encode())
                    self._seq[target] = seq + 1
                    return
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
                        raise
                    seq += 1
        except (ClientError, BotoCoreError) as exc:
            raise DrillSetupError(f"cannot write the drill journal to s3://{self.bucket}/"
                                  f"{self.prefix}: {_why(exc)}", code=JOURNAL_FAILED) from None
        raise DrillSetupError("cannot find a free journal entry name", code=JOURNAL_FAILED)

    def read(self, target: str) -> list[dict[str, Any]]:
        """Every entry of the target, in order."""
        try:
            return [e for _, e in self._entries(target)]
        except (ClientError, BotoCoreError) as exc:
            raise DrillSetupError(f"cannot read the drill journal: {_why(exc)}",
                                  code=JOURNAL_FAILED) from None


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Unknown')} {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
