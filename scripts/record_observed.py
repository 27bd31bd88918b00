#!/usr/bin/env python3
"""Record what post-apply reads from Terraform-built environments: the check fixtures' baseline.

For each environment named (default: prod and dev): `keyplane synth` of the example estate,
then `keyplane sandbox apply`'s code builds the AWS stack with real Terraform and the real
hashicorp/aws provider into a fresh sandbox (the GCP stack through google-cloud-kms), then
one read of the deployed state with every facet, through the same readers post-apply uses,
is written to tests/postapply/fixtures/observed/<env>.json. The read must judge CLEAN. The GCP
stack's keys, log-based metrics and alert policies are created through google-cloud-kms,
google-cloud-logging and google-cloud-monitoring, and read back with the GCP alerts facet.

The post-apply check fixtures (tests/postapply/fixtures/checks/) are small changes to these
files. Needs terraform and the provider mirror; run from the repository root:
    .venv/bin/python scripts/record_observed.py [--only FIELD,...] [ENV ...]

`--only gcp_log_metrics,gcp_alert_policies` reads everything again (and requires it clean)
but writes only those fields of the observed state into the existing recordings, keeping
the rest of each file, and its recording time, as it was: a new facet joins the recorded
reads without changing the ids and times every other fixture refers to.
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


def main(names: list[str], only: list[str] | None = None) -> int:
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
            doc = {"environment": name, "recorded_at": now.isoformat(),
                   "observed": dump(observed)}
            if only:
                fresh = doc["observed"]
                doc = json.loads(target.read_text(encoding="utf-8"))
                unknown = [f for f in only if f not in fresh]
                if unknown:
                    print(f"--only: no observed field {', '.join(unknown)}")
                    return 2
                doc["observed"].update({f: fresh[f] for f in only})
            target.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n",
                              encoding="utf-8")
            print(f"wrote {target.relative_to(REPO)}" + (f" ({', '.join(only)})" if only else ""))
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    fields: list[str] | None = None
    if args[:1] == ["--only"] and len(args) > 1:
        fields, args = [f for f in args[1].split(",") if f], args[2:]
    sys.exit(main(args or ["prod", "dev"], fields))
