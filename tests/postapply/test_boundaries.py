"""The hooks import no cloud SDK; the reader modules never name a write operation."""

from __future__ import annotations

import re

from tests.conftest import REPO
from tests.test_boundaries import FORBIDDEN, imported_roots


def test_hooks_import_no_sdk() -> None:
    files = sorted((REPO / "keyplane/postapply").rglob("*.py"))
    assert files
    bad = {str(f.relative_to(REPO)): sorted(imported_roots(f) & FORBIDDEN) for f in files}
    assert {f: b for f, b in bad.items() if b} == {}


def test_reader_modules_call_only_read_operations() -> None:
    for path in ("keyplane/cloud/aws/reader.py", "keyplane/cloud/gcp/reader.py"):
        text = (REPO / path).read_text(encoding="utf-8")
        paginated = set(re.findall(r'_pages\(\s*"\w+",\s*"(\w+)"', text))
        # the GCP reader's Cloud Logging and Cloud Monitoring clients are `logging`/`monitoring`
        called = set(re.findall(
            r"\b(?:kms|sts|ct|iam|backup|logging|monitoring|self\._client)\.(\w+)\b", text))
        names = (paginated | called) - {"v1"}  # `google.iam.v1`, a module path
        assert {"list_keys", "describe_key", "get_key_policy"} & names or \
            {"list_crypto_keys", "get_iam_policy"} & names, path
        writes = {m for m in names if not m.startswith(("describe", "get", "list"))}
        assert writes == set(), path
