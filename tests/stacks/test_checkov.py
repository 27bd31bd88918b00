"""The synthesized AWS estate passes checkov, except checks documented as not applying."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, scratch_dir
from tests.constructs.aws.helpers import synth_aws_estate

pytestmark = pytest.mark.synth

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

# check id -> (construct paths it does not apply to, reason). Mirrored in the README.
DOCUMENTED_SKIPS: dict[str, tuple[frozenset[str], str]] = {
    "CKV_AWS_7": (frozenset({"aws/keys/pki-root-ca/g1/key", "aws/keys/pki-issuing-ca/g1/key",
                             "aws/keys/pki-issuing-ca/g2/key"}),
                  "keys in a CloudHSM custom key store cannot rotate automatically; ca keys are "
                  "re-keyed by ceremony as generations"),
    "CKV_AWS_227": (frozenset({"aws/keys/pki-issuing-ca/g1/key",
                               "aws/keys/staging-code-signing/g1/key"}),
                    "a retired generation (enabled: false) is disabled on purpose before it "
                    "leaves the config and enters its deletion window"),
    "CKV_AWS_18": (frozenset({"aws/audit/bucket"}),
                   "server access logs cannot be delivered to an SSE-KMS bucket and would need a "
                   "second, weaker bucket; every API call on the audit bucket is already in the "
                   "trail it holds (management events) and objects are immutable (Object Lock)"),
    "CKV_AWS_144": (frozenset({"aws/audit/bucket"}),
                    "the trail is multi-Region and the objects are locked; a replica belongs to "
                    "an organization-level log archive, outside one environment's stack"),
    "CKV2_AWS_62": (frozenset({"aws/audit/bucket"}),
                    "nothing consumes object notifications; alarms come from CloudWatch Logs "
                    "metric filters on the same trail"),
    "CKV_AWS_252": (frozenset({"aws/audit/trail"}),
                    "an SNS message per delivered log file would drown the alarm topic; alarms "
                    "come from metric filters"),
    "CKV_AWS_338": (frozenset({"aws/audit/log-group"}),
                    "retention comes from the tier table: 90 days for non-production, 30 for "
                    "ephemeral environments (365 for ca and production)"),
}


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov not installed; run make checkov-venv")
def _scannable_copy(out: Path) -> Path:
    """The stacks without `terraform.required_version`: checkov 3.3's terraform_json parser
    expects every entry of the `terraform` block to be a block and refuses the whole file on a
    string (`hclify`: "this method receives only dicts"). Nothing it checks reads that entry."""
    copy = scratch_dir("checkov-") / "cdktf.out"
    shutil.copytree(out, copy)
    for stack in copy.glob("stacks/*/cdk.tf.json"):
        doc = json.loads(stack.read_text())
        doc.get("terraform", {}).pop("required_version", None)
        stack.write_text(json.dumps(doc))
    return copy


def test_checkov_finds_nothing_beyond_documented_skips() -> None:
    out, docs = synth_aws_estate()
    out = _scannable_copy(out)
    proc = subprocess.run([str(CHECKOV), "-d", str(out), "--framework", "terraform_json",
                           "--quiet", "--compact", "--skip-download", "-o", "json"],
                          capture_output=True, text=True, timeout=600)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["passed"] > 100
    paths = {}
    for env, doc in docs.items():
        for rtype, items in doc.get("resource", {}).items():
            for name, body in items.items():
                path = body["//"]["metadata"]["path"].split("/", 1)[1]
                # checkov names a resource `type.name` or, for some checks, `resource.name`
                paths[(env, f"{rtype}.{name}")] = paths[(env, f"resource.{name}")] = path
    unexpected = []
    for failed in report["results"]["failed_checks"]:
        env = failed["file_path"].strip("/").split("/")[1].removesuffix("-aws")  # dev-aws -> dev
        path = paths.get((env, failed["resource"]), failed["resource"])
        skip = DOCUMENTED_SKIPS.get(failed["check_id"])
        if skip is None or path not in skip[0]:
            unexpected.append((failed["check_id"], env, path))
    assert unexpected == []
