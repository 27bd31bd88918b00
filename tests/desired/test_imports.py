"""The desired state is pure: importing it starts no Node and loads no CDK or cloud library."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

_FORBIDDEN = ("cdktn", "cdktf", "cdktn_provider_aws", "cdktn_provider_google", "jsii",
              "constructs", "boto3", "botocore", "google", "grpc")


def test_importing_the_plans_loads_no_cdk_no_sdk_and_no_construct() -> None:
    probe = ("import json, sys\n"
             "import keyplane.desired.aws, keyplane.desired.gcp, keyplane.desired.names\n"
             "import keyplane.desired.policy, keyplane.desired.errors\n"
             f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {_FORBIDDEN!r}\n"
             "             or m.startswith('keyplane.constructs') or m.startswith('keyplane.stacks'))\n"
             "print(json.dumps({'bad': bad, 'jsii_node': 'JSII_NODE' in __import__('os').environ,\n"
             "                  'loaded': 'keyplane.desired.aws' in sys.modules}))\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "JSII_NODE"}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                          env=env, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"bad": [], "jsii_node": False, "loaded": True}


def test_a_plan_can_be_built_and_serialized_without_node(tmp_path) -> None:
    probe = ("import dataclasses, json, sys\n"
             "from keyplane.desired.aws import plan_environment\n"
             "from keyplane.model import load_estate\n"
             "from pathlib import Path\n"
             "env = load_estate([Path(sys.argv[1]) / 'prod.yaml']).get('prod')\n"
             "plan = plan_environment(env)\n"
             "data = json.dumps(dataclasses.asdict(plan), default=str)\n"
             "print(json.dumps({'size': len(data), 'keys': [k.name for k in plan.keys],\n"
             "                  'cdk': sorted(m for m in sys.modules if m.split('.')[0] in\n"
             "                                ('cdktn', 'jsii', 'constructs'))}))\n")
    from tests.conftest import EXAMPLE_ENVIRONMENTS

    proc = subprocess.run([sys.executable, "-c", probe, str(EXAMPLE_ENVIRONMENTS)],
                          capture_output=True, text=True, cwd=REPO, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["cdk"] == []
    assert out["keys"] == ["pki-root-ca", "pki-issuing-ca", "code-signing", "document-signing",
                           "release-artifacts"]
    assert out["size"] > 10_000
