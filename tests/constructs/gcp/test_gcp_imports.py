"""A GCP-only stack never imports the AWS provider bindings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_ENVIRONMENTS, scratch_dir

REPO = Path(__file__).resolve().parents[3]

_SCRIPT = """
import json, os, sys
from pathlib import Path
from keyplane.constructs.gcp import GcpEnvironment  # sets JSII_NODE before cdktn loads
import cdktn
from keyplane.model import load_estate
env = load_estate([Path(sys.argv[1]) / "prod.yaml"]).get("prod")
app = cdktn.Testing.app(outdir=sys.argv[2])
stack = cdktn.TerraformStack(app, "prod")
GcpEnvironment(stack, "gcp", env=env)
doc = json.loads(cdktn.Testing.synth(stack))
print(json.dumps({
    "aws": sorted(m for m in sys.modules if m.startswith("cdktn_provider_aws")),
    "google": "cdktn_provider_google.kms_crypto_key" in sys.modules,
    "keys": len(doc["resource"]["google_kms_crypto_key"]),
}))
"""


@pytest.mark.synth
def test_gcp_only_stack_does_not_import_the_aws_bindings() -> None:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(EXAMPLE_ENVIRONMENTS),
                          str(scratch_dir("cdktn-app-"))], capture_output=True, text=True,
                         cwd=REPO, check=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"aws": [], "google": True, "keys": 4}


def test_plan_imports_no_cdk_library() -> None:
    code = ("import sys; import keyplane.desired.gcp, keyplane.constructs.gcp;"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('cdktn', 'cdktn_provider_google', 'cdktn_provider_aws', 'jsii', 'constructs'));"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, cwd=REPO)
    assert out.stdout.strip() == ""
