"""Property-based: every file keyplane reads, generated, ends in exit 0-3, never exit 70.

Each test runs the real entry point in-process (`keyplane.cli.main`) on generated file
contents: small valid documents with a random subtree replaced, deleted or wrapped, plus
raw text and bytes no serializer would write (nesting thousands deep, 5000-digit numbers,
non-utf-8 bytes, byte order marks, truncation, YAML aliases and tags). The properties
are the README's contract: the exit code is 0, 1, 2 or 3; nothing prints a traceback or
"internal error"; exit 2 names a stable `KPnnn` code. Examples are derandomized and the
example database is off, so CI runs the same inputs every time.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from keyplane.audit.evidence import DRILL_KINDS, DRILL_OUTCOMES
from keyplane.cli import main
from keyplane.errors import KeyplaneError
from tests.conftest import BASE_ENV, EXAMPLE_ENVIRONMENTS, REPO

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


def fuzz(examples: int) -> settings:
    """The shared settings with `examples` generated inputs."""
    return settings(FUZZ, max_examples=examples)


CODE = re.compile(r"\bKP\d{3}\b")


# --- running the entry point ----------------------------------------------------------------

def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and everything printed by `keyplane ARGV`, in this process."""
    capsys.readouterr()
    try:
        main(argv)
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 0 if code is None else -1), out + err


def assert_contract(code: int, output: str) -> None:
    """The README's promise for any input."""
    assert code in (0, 1, 2, 3), f"exit {code}:\n{output[-2000:]}"
    assert "Traceback" not in output, output[-2000:]
    assert "internal error" not in output, output[-2000:]
    if code == 2:
        assert CODE.search(output), f"exit 2 without a KP code:\n{output[-2000:]}"


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Exit 70 must be seen as exit 70 (not re-raised); relative defaults land in tmp_path."""
    monkeypatch.delenv("KEYPLANE_DEBUG", raising=False)
    monkeypatch.delenv("KEYPLANE_SANDBOX_STATE", raising=False)
    monkeypatch.chdir(tmp_path)


# --- generated values -----------------------------------------------------------------------

class Raw(str):
    """Text placed into a serialized document as it is (no serializer would write it)."""


def _deep(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return '[{"a":' * (depth // 2) + "[]" + "}]" * (depth // 2)


JSON_RAW = st.one_of(
    st.sampled_from(["1" * 5000, "-" + "9" * 4400, "1e999", "-1e400", "1.5e-400", "NaN",
                     "Infinity", "-Infinity", "123456789012345678901234567890", "-0", "0.0"]),
    st.builds(_deep, st.sampled_from([150, 199, 201, 500, 990, 1000, 3000]),
              st.sampled_from(["list", "object", "mixed"])),
).map(Raw)

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 2, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["", "*", "${aws_kms_key.k.arn}", "arn:aws:iam::*:root", "2025-01-01",
                     "2025-13-45", "1.2", "2.0", "0.1", "production", "ca", "prod", "\u0000",
                     "é\u202e", "{}", "[]", '{"Statement": [{"Principal": "*"}]}']),
)
JSON_KEYS = st.text(max_size=8)
JSON_VALUES = st.recursive(
    SCALARS | JSON_RAW,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_KEYS, inner, max_size=4),
    max_leaves=12)


def _paths(doc: Any) -> list[tuple[Any, ...]]:
    """Every path of `doc`, the root first (walked without recursion)."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), doc)]
    while stack:
        path, node = stack.pop()
        out.append(path)
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    return sorted(out, key=lambda p: (len(p), [str(x) for x in p]))


@st.composite
def mutated(draw: st.DrawFn, base: Any, values: st.SearchStrategy[Any] = JSON_VALUES,
            keys: st.SearchStrategy[Any] = JSON_KEYS) -> Any:
    """`base` with one to three subtrees replaced by a random value, deleted, or wrapped, or
    a random key added to a mapping."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        op = draw(st.sampled_from(["replace", "replace", "delete", "wrap", "add"]))
        if op == "add":
            node = doc
            for step in path:
                node = node[step]
            if isinstance(node, dict):
                node[draw(keys)] = draw(values)
                continue
            op = "replace"
        if not path:
            doc = draw(values) if op != "wrap" else [doc]
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if op == "delete":
            del parent[path[-1]]
        elif op == "wrap":
            parent[path[-1]] = draw(st.sampled_from([[parent[path[-1]]],
                                                     {"value": parent[path[-1]]}]))
        else:
            parent[path[-1]] = draw(values)
    return doc


def dump_json(doc: Any) -> str:
    """JSON text of `doc`, with every Raw leaf written as it is."""
    raws: list[str] = []

    def mark(node: Any) -> Any:
        if isinstance(node, Raw):
            raws.append(str(node))
            return f"@@RAW{len(raws) - 1}@@"
        if isinstance(node, dict):
            return {k if isinstance(k, str | int | float) or k is None else str(k): mark(v)
                    for k, v in node.items()}
        if isinstance(node, list):
            return [mark(v) for v in node]
        return node

    text = json.dumps(mark(doc), indent=1, default=str)
    for i, raw in enumerate(raws):
        text = text.replace(f'"@@RAW{i}@@"', raw)
    return text


@st.composite
def corrupted(draw: st.DrawFn, text: str) -> bytes:
    """`text` as bytes, sometimes truncated, with a bad byte, a byte order mark or in utf-16."""
    how = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "truncate", "bad-byte", "bom",
                                "utf-16", "utf-16-no-bom", "utf-32", "latin-1", "nul"]))
    raw = text.encode("utf-8", errors="surrogatepass")
    if how == "truncate":
        return raw[:draw(st.integers(0, max(len(raw) - 1, 0)))]
    if how == "bad-byte":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"])) \
            + raw[at:]
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "utf-16":
        return text.encode("utf-16", errors="surrogatepass")
    if how == "utf-16-no-bom":
        return text.encode("utf-16-le", errors="surrogatepass")
    if how == "utf-32":
        return text.encode("utf-32", errors="surrogatepass")
    if how == "latin-1":
        return text.encode("latin-1", errors="replace") + "é".encode("latin-1")
    if how == "nul":
        return raw + b"\x00"
    return raw


def json_file(base: Any) -> st.SearchStrategy[bytes]:
    """Bytes of a JSON input: `base` mutated, any JSON value, raw tokens, or random bytes."""
    return st.one_of(
        mutated(base).map(dump_json).flatmap(corrupted),
        mutated(base).map(dump_json).map(lambda t: t.encode("utf-8", errors="surrogatepass")),
        JSON_VALUES.map(dump_json).map(lambda t: t.encode("utf-8", errors="surrogatepass")),
        st.binary(max_size=64),
    )


# --- YAML -----------------------------------------------------------------------------------

YAML_RAW = st.one_of(
    st.sampled_from([
        "*undefined", "!!binary aGVsbG8=", "!!python/object:os.system x", "!!set {a, b}",
        "!!omap [a: 1]", "!!timestamp 2025-01-01", "2025-01-01T10:00:00Z", "2025-01-01 10:00:00",
        "2025-13-45", "1" * 5000, "0x" + "f" * 5000, ".nan", ".inf", "-.inf", "~", "0o17",
        "!!int x", "!!float y", "!!str 1", "!custom tag", "&anchor value", "'unterminated",
        '"bad \\q escape"', "@reserved", "`backtick", "%directive", "{a: 1, a: 2}",
        "[*a, &a x]", "? complex", "\t", "|", ">-",
    ]),
    # ruamel's scanner is quadratic in unclosed `[` levels (1000 take seconds): the deepest
    # flow sequences here stay at 400, the deepest flow mappings go to 3000.
    st.builds(lambda d: "[" * d + "]" * d, st.sampled_from([150, 199, 201, 400])),
    st.builds(lambda d: "{a: " * d + "1" + "}" * d, st.sampled_from([199, 201, 1000, 3000])),
).map(Raw)
# YAML keys need not be strings: `1: x`, `true: x`, `null: x`, `2025-01-01: x`.
YAML_KEYS = st.one_of(st.text(max_size=8), st.integers(-3, 3), st.booleans(), st.none(),
                      st.dates(), st.floats(allow_nan=False))
YAML_VALUES = st.recursive(
    SCALARS | YAML_RAW | st.dates() | st.datetimes(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(YAML_KEYS, inner, max_size=4),
    max_leaves=12)

# Aliases inside aliases: eight lines that expand to 9**8 values.
BILLION_LAUGHS = (
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n")

# Whole documents no mutation of a valid one reaches.
YAML_DOCUMENTS = [
    "",
    "---\n...\n",
    "a: 1\n---\nb: 2\n",
    "- &a [*a]\n",
    "&a [*a, *a]\n",
    BILLION_LAUGHS,
    "base: &b {name: x}\nchild:\n  <<: *b\n  <<: *b\n",
    "<<: {name: prod}\n",
    "? [a, b]\n: c\n",
    "? {a: 1}\n: c\n",
    "name: prod\nname: prod\n",
    "name:\tprod\n",
    "\tname: prod\n",
    "name: !!python/name:os.system\n",
    "!!map\n",
    "- " * 500 + "x\n",
    "a:\n" + "".join(" " * i + "a:\n" for i in range(1, 400)) + " " * 400 + "x\n",
    "[" * 400 + "]" * 400 + "\n",
    "{a: " * 1000 + "1" + "}" * 1000 + "\n",
    "%YAML 1.1\n---\nname: prod\n",
    "%YAML 9.9\n---\nname: prod\n",
    "name: \"\\ud800\"\n",
    "keys: *nowhere\n",
]


def _dump_yaml(doc: Any, block: bool) -> str:
    """YAML text of `doc`: block style from ruamel (no Raw leaves) or flow style (JSON)."""
    if block and not _has_raw(doc):
        import io

        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        buf = io.StringIO()
        try:
            yaml.dump(doc, buf)
            return buf.getvalue()
        except Exception:  # a value the dumper cannot write: fall back to flow style
            pass
    return dump_json(doc)


def _has_raw(doc: Any) -> bool:
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, Raw):
            return True
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _yaml_base(text: str) -> Any:
    from ruamel.yaml import YAML

    def plain(node: Any) -> Any:  # dates as text: json.dumps can write the mutated document
        if isinstance(node, dict):
            return {str(k): plain(v) for k, v in node.items()}
        if isinstance(node, list):
            return [plain(v) for v in node]
        return node.isoformat() if isinstance(node, dt.date) else node

    return plain(YAML(typ="safe", pure=True).load(text))


def yaml_file(base_text: str) -> st.SearchStrategy[bytes]:
    """Bytes of a YAML input: the base mutated (block or flow style), odd documents, bytes."""
    base = _yaml_base(base_text)
    as_text = st.tuples(mutated(base, YAML_VALUES, YAML_KEYS), st.booleans()).map(
        lambda pair: _dump_yaml(*pair))
    return st.one_of(
        as_text.map(lambda t: t.encode("utf-8", errors="surrogatepass")),
        as_text.flatmap(corrupted),
        st.sampled_from(YAML_DOCUMENTS).map(str.encode),
        st.text(max_size=60).map(lambda t: t.encode("utf-8", errors="surrogatepass")),
        st.binary(max_size=64),
    )


# --- valid documents the mutations start from -----------------------------------------------

KEY_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "admins", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/admins"},
     "Action": ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"], "Resource": "*"},
    {"Sid": "use", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Sign",
     "Resource": "*", "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333"}}}]})
TAGS = {"keyplane:env": "prod", "keyplane:tier": "production", "keyplane:key": "signing",
        "keyplane:generation": "1", "keyplane:created-on": "2026-01-01"}

SYNTH = {
    "//": {"metadata": {"backend": "local", "stackName": "prod-aws", "version": "0.24.0"}},
    "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": "6.0"}}},
    "provider": {"aws": [{"region": "us-east-1", "default_tags": [{"tags": {"owner": "x"}}]}],
                 "google": [{"project": "acme", "default_labels": {"keyplane-env": "prod"}}]},
    "resource": {
        "aws_kms_key": {"signing": {
            "//": {"metadata": {"path": "prod-aws/signing/key", "uniqueId": "signing"}},
            "customer_master_key_spec": "ECC_NIST_P384", "key_usage": "SIGN_VERIFY",
            "deletion_window_in_days": 30, "multi_region": True, "policy": KEY_POLICY,
            "tags": TAGS, "lifecycle": {"prevent_destroy": True}}},
        "aws_kms_alias": {"signing": {"name": "alias/signing",
                                      "target_key_id": "${aws_kms_key.signing.key_id}"}},
        "aws_kms_replica_key": {"signing_west": {
            "provider": "aws.west", "primary_key_arn": "${aws_kms_key.signing.arn}",
            "policy": KEY_POLICY, "tags": TAGS}},
        "google_kms_crypto_key": {"attest": {
            "name": "attest", "key_ring": "${google_kms_key_ring.ring.id}", "purpose":
            "ASYMMETRIC_SIGN", "version_template": [{"algorithm": "EC_SIGN_P384_SHA384",
                                                     "protection_level": "HSM"}],
            "labels": {"keyplane-tier": "production", "keyplane-env": "prod"}}},
        "google_kms_crypto_key_iam_binding": {"attest_users": {
            "crypto_key_id": "${google_kms_crypto_key.attest.id}",
            "role": "roles/cloudkms.signerVerifier", "members": ["allUsers"]}},
    },
}

_KEY_AFTER = {"customer_master_key_spec": "ECC_NIST_P384", "key_usage": "SIGN_VERIFY",
              "policy": KEY_POLICY, "multi_region": True, "tags": TAGS, "tags_all": TAGS,
              "enable_key_rotation": False, "is_enabled": True}
PLAN = {
    "format_version": "1.2",
    "terraform_version": "1.9.8",
    "planned_values": {"root_module": {
        "resources": [{"address": "aws_kms_key.signing", "mode": "managed",
                       "type": "aws_kms_key", "name": "signing",
                       "provider_name": "registry.terraform.io/hashicorp/aws",
                       "values": _KEY_AFTER, "sensitive_values": {"tags": {}}}],
        "child_modules": [{"address": "module.m", "resources": [
            {"address": "module.m.aws_kms_alias.a", "mode": "managed", "type": "aws_kms_alias",
             "name": "a", "values": {"name": "alias/a"}}]}]}},
    "resource_changes": [
        {"address": "aws_kms_key.signing", "mode": "managed", "type": "aws_kms_key",
         "name": "signing", "provider_name": "registry.terraform.io/hashicorp/aws",
         "change": {"actions": ["create"], "before": None, "after": _KEY_AFTER,
                    "after_unknown": {"arn": True, "deletion_window_in_days": True,
                                      "tags": {"keyplane:env": False}},
                    "before_sensitive": False,
                    "after_sensitive": {"policy": False, "tags": {}, "description": True}}},
        {"address": "module.m.aws_kms_alias.a[0]", "module_address": "module.m",
         "mode": "managed", "type": "aws_kms_alias", "name": "a", "index": 0,
         "change": {"actions": ["delete", "create"], "before": {"name": "alias/a"},
                    "after": {"name": "alias/a"}, "after_unknown": {"target_key_id": True},
                    "before_sensitive": {}, "after_sensitive": {}}},
        {"address": "google_kms_crypto_key.attest", "mode": "managed",
         "type": "google_kms_crypto_key", "name": "attest",
         "provider_name": "registry.terraform.io/hashicorp/google",
         "change": {"actions": ["delete"], "before": {"name": "attest", "labels": {
             "keyplane-tier": "ca"}}, "after": None, "before_sensitive": {"labels": {}},
             "after_sensitive": False}},
    ],
    "configuration": {"root_module": {
        "resources": [{"address": "aws_kms_key.signing", "type": "aws_kms_key",
                       "expressions": {"description": {"constant_value": "k"},
                                       "deletion_window_in_days": {"constant_value": 7},
                                       "policy": {"references": ["data.aws_iam_policy_document.p",
                                                                 "var.x"]}}}],
        "module_calls": {"m": {"module": {"resources": [
            {"address": "aws_kms_alias.a", "expressions": {
                "target_key_id": {"references": ["aws_kms_key.signing.key_id",
                                                 "aws_kms_key.signing"]}}}]}}}}},
}

WAIVERS = """\
waivers:
  - rule: aws_kms_key_rotation_enabled
    resource: aws_kms_key.signing
    owner: security@example.com
    reason: asymmetric keys rotate by generation
    expires: 2030-01-01
  - rule: gcp_kms_iam_no_public_or_primitive
    resource: "google_kms_*"
    owner: security@example.com
    reason: demo
    expires: 2020-01-01
"""

KNOWN_DRIFT = """\
known_drift:
  - resource: arn:aws:kms:us-east-1:111122223333:key/1234
    reason: rotated by hand during the incident
    owner: security@example.com
    expires: 2030-01-01
    check: drift.key_disabled
  - resource: code-signing
    reason: being replaced
    owner: security@example.com
    expires: 2020-01-01
"""

EVIDENCE_RECORD = {
    "run_id": "20260101T000000Z-abcd", "environment": "prod", "kind": "sign-canary",
    "key": "code-signing", "generation": 2, "tier": "production",
    "started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T00:00:05Z",
    "outcome": "PASSED", "reason": "signature verified", "identity": "arn:aws:iam::1:role/ci",
    "rto_seconds": 5.0, "rpo_seconds": None, "deadline_seconds": 60.0,
    "details": {"key_id": "1234", "signature": {"algorithm": "ECDSA_SHA_384"}},
}

SANDBOX_STATE = {"aws_endpoint": "http://127.0.0.1:1", "gcp_endpoint": "127.0.0.1:2",
                 "pid": 4242, "latency_ms": 0.0, "projects": ["acme-test-prod"]}


def _report_fixture(name: str, lists: tuple[str, ...]) -> Any:
    doc = json.loads((REPO / "tests/audit/report_fixtures" / name).read_text(encoding="utf-8"))
    for key in lists:  # a few items are enough to be mutated
        if isinstance(doc.get(key), list):
            doc[key] = doc[key][:3]
    return doc


CHECK_JSON = _report_fixture("check.json", ("findings", "files", "warnings"))
POST_APPLY_JSON = _report_fixture("post-apply-prod.json",
                                  ("findings", "unknowns", "checked", "access", "notes"))


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# --- the inventory: keyplane validate -------------------------------------------------------

@fuzz(80)
@given(content=yaml_file(BASE_ENV), fmt=st.sampled_from(["text", "json"]))
@example(content=b"{a: " * 1000 + b"1" + b"}" * 1000, fmt="text")
@example(content=b"- &a [*a]\n", fmt="json")
@example(content=b"name: prod\nkeys: " + b"[" * 300 + b"]" * 300 + b"\n", fmt="text")
@example(content=b"name: prod\ncreated: 2025-13-45\n", fmt="text")
@example(content=b"name: !!int x\n", fmt="json")
@example(content=b"name: " + b"1" * 5000 + b"\n", fmt="text")
@example(content=b"name: 0x" + b"f" * 5000 + b"\n", fmt="text")
@example(content=BILLION_LAUGHS.encode(), fmt="text")
def test_inventory_yaml(content: bytes, fmt: str, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane validate -d DIR` on any prod.yaml."""
    envs = _fresh(tmp_path / "envs")
    _write(envs / "prod.yaml", content)
    assert_contract(*run(["validate", "-d", str(envs), "--format", fmt], capsys))


# --- the gate: keyplane check ---------------------------------------------------------------

@fuzz(150)
@given(content=json_file(PLAN), fmt=st.sampled_from(["text", "json", "sarif"]))
@example(content=b"[" * 1000 + b"]" * 1000, fmt="text")
@example(content=b"[" * 1000 + b"]" * 1000, fmt="json")
@example(content=b'{"a":' * 100000 + b"1" + b"}" * 100000, fmt="json")
@example(content=dump_json({**PLAN, "resource_changes": Raw(_deep(190, "list"))}).encode(),
         fmt="text")
@example(content=json.dumps({**PLAN, "format_version": 1.2}).encode(), fmt="text")
@example(content=("1" * 5000).encode(), fmt="text")
@example(content=b"\xff\xfe\x00", fmt="json")
def test_plan_json(content: bytes, fmt: str, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane check plan.json` on any plan-like document."""
    plan = _write(tmp_path / "plan.json", content)
    assert_contract(*run(["check", str(plan), "--format", fmt, "--as-of", "2026-01-01"], capsys))


@fuzz(120)
@given(content=json_file(SYNTH), fmt=st.sampled_from(["text", "json", "markdown", "junit"]))
@example(content=dump_json({**SYNTH, "resource": {"aws_kms_key": {"k": {
    "policy": "[" * 1000 + "]" * 1000, "tags": TAGS}}}}).encode(), fmt="text")
def test_synth_json(content: bytes, fmt: str, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane check cdk.tf.json` on any synth-like document."""
    synth = _write(tmp_path / "cdk.tf.json", content)
    assert_contract(*run(["check", str(synth), "--format", fmt], capsys))


@fuzz(60)
@given(manifest=json_file({"version": "0.24.0", "stacks": {"prod-aws": {
    "name": "prod-aws", "synthesizedStackPath": "stacks/prod-aws/cdk.tf.json"}}}))
def test_cdktf_out_manifest(manifest: bytes, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane check cdktf.out` on any manifest.json next to a valid stack."""
    out = _fresh(tmp_path / "cdktf.out")
    _write(out / "manifest.json", manifest)
    _write(out / "stacks" / "prod-aws" / "cdk.tf.json", json.dumps(SYNTH).encode())
    assert_contract(*run(["check", str(out)], capsys))


@fuzz(60)
@given(content=yaml_file(WAIVERS))
@example(content=b"- {1: a, b: c, rule: x}\n")
@example(content=b"- &a [*a]\n")
def test_waivers_yaml(content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane check synth.json --waivers FILE` on any waivers file."""
    synth = tmp_path / "cdk.tf.json"
    if not synth.exists():
        synth.write_text(json.dumps(SYNTH), encoding="utf-8")
    waivers = _write(tmp_path / "waivers.yaml", content)
    assert_contract(*run(["check", str(synth), "--waivers", str(waivers), "--as-of",
                          "2026-01-01"], capsys))


# --- known drift: the loader ----------------------------------------------------------------

@fuzz(100)
@given(content=st.one_of(yaml_file(KNOWN_DRIFT),
                         mutated(_yaml_base(KNOWN_DRIFT)).map(dump_json).map(str.encode)),
       suffix=st.sampled_from([".yaml", ".json"]))
@example(content=b"- {resource: a, reason: b, owner: c, expires: 2030-01-01 10:00:00}\n",
         suffix=".yaml")
@example(content=b"- {1: a, b: c, resource: a, reason: b, owner: c, expires: 2030-01-01}\n",
         suffix=".yaml")
@example(content=b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c]\n"
                 b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e]\n",
         suffix=".yaml")
@example(content=b"[" * 1000 + b"]" * 1000, suffix=".json")
def test_known_drift_loader(content: bytes, suffix: str, tmp_path: Path) -> None:
    """`keyplane.postapply.acks.load` returns usable entries or raises a coded KeyplaneError."""
    from keyplane.findings import Finding, Severity, Status
    from keyplane.postapply import acks

    path = _write(tmp_path / f"known-drift{suffix}", content)
    try:
        loaded = acks.load(path)
    except KeyplaneError as exc:
        assert re.fullmatch(r"KP\d{3}", exc.code), exc.code
        assert exc.exit_code in (1, 2, 3)
        return
    finding = Finding(rule_id="drift.key_disabled", status=Status.FAIL, severity=Severity.HIGH,
                      resource="arn:aws:kms:us-east-1:111122223333:key/1234",
                      key="code-signing@g2", reason="the key is disabled")
    marked, unmatched, notes = acks.apply([finding], loaded, today=dt.date(2026, 1, 1))
    json.dumps([f.to_dict() for f in marked] + unmatched + notes)


@fuzz(100)
@given(content=json_file(POST_APPLY_JSON))
@example(content=b'{"command": "post-apply", "environment": "prod", "findings": [1]}')
@example(content=b'{"command": "post-apply", "environment": "prod", "checked": ["a"], '
                 b'"findings": [{"resource": "a", "severity": "nope"}]}')
def test_resume_report(content: bytes) -> None:
    """A `--resume` report, as post-apply reads it: a coded error or what to skip, never a crash.

    (`post-apply --resume` reads it only after the synthesized stacks and credentials, so
    the reader and `_resume` are run here without them.)
    """
    from keyplane.documents import loads
    from keyplane.postapply.run import _resume

    try:
        data = loads(content.decode("utf-8"))
    except ValueError:  # post-apply: KP607 "is not readable json"
        return
    if not isinstance(data, dict):  # post-apply: KP607 "expected an object"
        return
    try:
        checked, resumed, carried = _resume(data, "post-apply", "prod")
    except KeyplaneError as exc:
        assert exc.code == "KP607", exc.code
        return
    json.dumps([sorted(checked), sorted(resumed), [f.to_dict() for f in carried]], default=str)


# --- drill evidence: keyplane drill --history, keyplane report --evidence-dir ----------------

_TIMESTAMPS = st.one_of(st.datetimes(timezones=st.none() | st.just(dt.UTC)).map(
    lambda t: t.isoformat()), st.text(max_size=25), st.just("2026-01-01T00:00:00Z"))
_SECONDS = st.none() | st.integers(-5, 10**9) | st.floats(allow_nan=False, allow_infinity=False)
# Records of the right shape with odd values: they get past the reader to the renderers.
TYPED_RECORDS = st.fixed_dictionaries({
    "run_id": st.text(max_size=12), "environment": st.just("prod") | st.text(max_size=6),
    "kind": st.sampled_from(DRILL_KINDS), "key": st.none() | st.text(max_size=12),
    "generation": st.none() | st.integers(), "tier": st.none() | st.sampled_from(
        ["ca", "production", "non-production", "ephemeral"]) | st.text(max_size=6),
    "started_at": _TIMESTAMPS, "ended_at": _TIMESTAMPS,
    "outcome": st.sampled_from(DRILL_OUTCOMES), "reason": st.text(max_size=30),
    "identity": st.text(max_size=12), "rto_seconds": _SECONDS, "rpo_seconds": _SECONDS,
    "deadline_seconds": _SECONDS,
    "details": st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3),
})
EVIDENCE_FILES = st.lists(
    st.one_of(json_file(EVIDENCE_RECORD),
              TYPED_RECORDS.map(dump_json).map(lambda t: t.encode("utf-8", "surrogatepass")),
              st.just(json.dumps(EVIDENCE_RECORD).encode()),
              st.sampled_from([b"[]", b"null", b'"a string"', b"1", b"{}", b"true"])),
    min_size=1, max_size=3)


@fuzz(30)
@given(records=EVIDENCE_FILES, fmt=st.sampled_from(["text", "json", "markdown"]))
@example(records=[b"[]"], fmt="text")
@example(records=[b"null"], fmt="json")
@example(records=[b'"a string"'], fmt="text")
def test_evidence_drill_history(records: list[bytes], fmt: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane drill prod --history --evidence-location DIR` on any records."""
    ev = _fresh(tmp_path / "evidence")
    for i, data in enumerate(records):
        _write(ev / f"2026010{i}-record.json", data)
    assert_contract(*run(["drill", "prod", "-d", str(EXAMPLE_ENVIRONMENTS), "--history",
                          "--evidence-location", str(ev), "--format", fmt], capsys))


@fuzz(30)
@given(records=EVIDENCE_FILES, nested=st.booleans(), fmt=st.sampled_from(["html", "markdown"]))
@example(records=[b"[]"], nested=False, fmt="html")
@example(records=[b"null"], nested=True, fmt="html")
@example(records=[b'"a string"'], nested=False, fmt="markdown")
def test_evidence_report(records: list[bytes], nested: bool, fmt: str, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane report prod --evidence-dir DIR --output FILE` on any records (DIR and DIR/prod)."""
    ev = _fresh(tmp_path / "evidence")
    for i, data in enumerate(records):
        _write((ev / "prod" if nested else ev) / f"2026010{i}-record.json", data)
    assert_contract(*run(["report", "prod", "-d", str(EXAMPLE_ENVIRONMENTS), "--evidence-dir",
                          str(ev), "--format", fmt, "--output", str(tmp_path / "r.out"),
                          "--as-of", "2026-06-01"], capsys))


# --- report inputs: --check-json, --post-apply-json, --waivers ------------------------------

@fuzz(30)
@given(check=json_file(CHECK_JSON), fmt=st.sampled_from(["html", "markdown"]))
@example(check=b"[" * 1000 + b"]" * 1000, fmt="html")
def test_report_check_json(check: bytes, fmt: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane report --check-json FILE` on any JSON."""
    path = _write(tmp_path / "check.json", check)
    assert_contract(*run(["report", "prod", "-d", str(EXAMPLE_ENVIRONMENTS), "--check-json",
                          str(path), "--format", fmt, "--output", str(tmp_path / "r.out"),
                          "--as-of", "2026-06-01"], capsys))


@fuzz(30)
@given(post_apply=json_file(POST_APPLY_JSON), fmt=st.sampled_from(["html", "markdown"]))
@example(post_apply=b"[" * 1000 + b"]" * 1000, fmt="html")
def test_report_post_apply_json(post_apply: bytes, fmt: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane report --post-apply-json FILE` on any JSON."""
    path = _write(tmp_path / "post-apply.json", post_apply)
    assert_contract(*run(["report", "prod", "-d", str(EXAMPLE_ENVIRONMENTS),
                          "--post-apply-json", str(path), "--format", fmt, "--output",
                          str(tmp_path / "r.out"), "--as-of", "2026-06-01"], capsys))


@fuzz(30)
@given(content=yaml_file(WAIVERS))
def test_report_waivers(content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane report --waivers FILE` on any waivers file."""
    path = _write(tmp_path / "waivers.yaml", content)
    assert_contract(*run(["report", "prod", "-d", str(EXAMPLE_ENVIRONMENTS), "--waivers",
                          str(path), "--format", "markdown", "--output", str(tmp_path / "r.md"),
                          "--as-of", "2026-06-01"], capsys))


# --- the sandbox state file -----------------------------------------------------------------

class FakeKill:
    """os.kill that signals nothing: odd pids are gone, even pids live until SIGTERM."""

    def __init__(self) -> None:
        self.terminated: list[int] = []

    def __call__(self, pid: int, sig: int) -> None:
        if not isinstance(pid, int):
            raise TypeError(f"'{type(pid).__name__}' object cannot be interpreted as an integer")
        if not -2**31 <= pid < 2**31:
            raise OverflowError("signed integer is greater than maximum")
        if sig == 0:
            if pid % 2 or pid in self.terminated:
                raise ProcessLookupError(3, "No such process")
            return
        self.terminated.append(pid)


@pytest.fixture
def fake_kill(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKill]:
    """No test here signals a real process, whatever pid a state file names."""
    fake = FakeKill()
    monkeypatch.setattr(os, "kill", fake)
    yield fake
    assert all(0 < pid != os.getpid() for pid in fake.terminated), fake.terminated


STATE_FILES = st.one_of(json_file(SANDBOX_STATE), st.sampled_from([
    json.dumps({**SANDBOX_STATE, "pid": pid}).encode()
    for pid in (0, -1, 1, 2, 2**31, 2**64, 1.5, "12", True, None, os.getpid())]))


@fuzz(30)
@given(state=STATE_FILES)
@example(state=json.dumps({**SANDBOX_STATE, "pid": 0}).encode())
@example(state=json.dumps({**SANDBOX_STATE, "pid": 2**64}).encode())
@example(state=b'{"aws_endpoint": "a", "gcp_endpoint": "b", "pid": 1e999}')
def test_sandbox_state_post_apply(state: bytes, tmp_path: Path, fake_kill: FakeKill,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane post-apply prod --sandbox --state-file F` on any state file."""
    path = _write(tmp_path / "sandbox.json", state)
    assert_contract(*run(["post-apply", "prod", "--sandbox", "--state-file", str(path), "-d",
                          str(EXAMPLE_ENVIRONMENTS), "--quiet"], capsys))


@fuzz(80)
@given(state=STATE_FILES)
@example(state=json.dumps({**SANDBOX_STATE, "pid": 0}).encode())
@example(state=json.dumps({**SANDBOX_STATE, "pid": -1}).encode())
@example(state=json.dumps({**SANDBOX_STATE, "pid": 2**64}).encode())
def test_sandbox_state_down(state: bytes, tmp_path: Path, fake_kill: FakeKill,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """`keyplane sandbox down --state-file F` on any state file signals only a real pid."""
    path = _write(tmp_path / "sandbox.json", state)
    assert_contract(*run(["sandbox", "down", "--state-file", str(path)], capsys))


# --- the sandbox extra ----------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["moto", "werkzeug"])
def test_fails_sandbox_up_without_the_sandbox_extra(missing: str, tmp_path: Path) -> None:
    """`pip install keyplane` without [sandbox]: `sandbox up` exits 2 with KP606, no traceback."""
    stub = tmp_path / "stub" / missing
    stub.mkdir(parents=True)
    message = f"No module named {missing!r}"
    (stub / "__init__.py").write_text(f"raise ImportError({message!r}, name={missing!r})\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "stub"), str(REPO)])}
    env.pop("KEYPLANE_DEBUG", None)
    proc = subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()",
                           "sandbox", "up", "--state-file", str(tmp_path / "state.json")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("keyplane: error KP606: the sandbox needs keyplane[sandbox]"), \
        proc.stderr
    assert "pip install 'keyplane[sandbox]'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "state.json").exists()

