#!/usr/bin/env python3
"""Record what post-apply reads from Terraform-built environments: the check fixtures' baseline.

For each environment named (default: prod and dev): `keyplane synth` of the example estate,
then `keyplane sandbox apply`'s code builds the AWS stack with real Terraform and the real
hashicorp/aws provider into a fresh sandbox (the GCP stack through google-cloud-kms), then
one read of the deployed state with every facet, through the same readers post-apply uses,
is written to tests/postapply/fixtures/observed/<env>.json. The read must judge CLEAN.

The post-apply check fixtures (tests/postapply/fixtures/checks/) are small changes to these
files. Needs terraform and the provider mirror; run from the repository root:
    .venv/bin/python scripts/record_observed.py [ENV ...]
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "postapply" / "fixtures" / "observed"
sys.path.insert(0, str(REPO))


def main(names: list[str]) -> int:
    from keyplane.commands.cloud_wiring import CloudOptions, aws_readers, gcp_reader
    from keyplane.model.loader import load_estate
    from keyplane.postapply.collect import Collector, Facet
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.observed_json import dump
    from keyplane.postapply.run import run
    from keyplane.postapply.stack import load_environment_stacks
    from keyplane.sandbox.server import Sandbox
    from keyplane.sandbox.stack_apply import apply_environment

    work = Path(tempfile.mkdtemp(prefix="keyplane-observed-"))
    out = work / "cdktf.out"
    subprocess.run([sys.executable, "-m", "keyplane.cli", "synth", "--out-dir", str(out),
                    "--quiet"], cwd=REPO, check=True)
    estate = load_estate(sorted((REPO / "environments").glob("*.yaml")))
    FIXTURES.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox()
    aws_url, gcp_target = sandbox.start()
    try:
        for name in names:
            env = estate.get(name)
            apply_environment(env, synth_dir=out, work_root=work, aws_endpoint=aws_url,
                              gcp_endpoint=gcp_target,
                              sandbox_id={"aws_endpoint": aws_url, "pid": 0})
            state = expected_state(env, load_environment_stacks(env, out))
            opts = CloudOptions(endpoint_url=aws_url, gcp_endpoint=gcp_target)
            aws = aws_readers(state, opts) if env.aws else None
            gcp = gcp_reader(state, opts) if env.gcp else None
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            observed = Collector(state=state, aws=aws, gcp=gcp, needs=set(Facet)).run()
            report = run(command="post-apply", sections=["rotation", "drift", "access-review"],
                         state=state, aws=aws, gcp=gcp, now=now)
            if report.outcome.value != "clean":
                print(f"{name}: the fresh read is not clean: "
                      f"{[f.to_dict() for f in report.findings + report.unknowns]}")
                return 1
            target = FIXTURES / f"{name}.json"
            target.write_text(json.dumps({"environment": name, "recorded_at": now.isoformat(),
                                          "observed": dump(observed)}, indent=1,
                                         sort_keys=True) + "\n", encoding="utf-8")
            print(f"wrote {target.relative_to(REPO)}")
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["prod", "dev"]))
