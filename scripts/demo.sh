#!/usr/bin/env bash
# keyplane's main job on the example estate, end to end, against the local sandbox and with
# real Terraform: validate, synth, a real `terraform plan` + `show -json`, the PR gate on that
# plan JSON, `terraform apply` into the sandbox and a second plan that must be empty,
# post-apply checks, restore drills, a CSR signed in KMS and the certificates bound to its key,
# an incident dry run and the evidence report. Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
K="${KEYPLANE:-.venv/bin/keyplane}"
PY="$(dirname "$K")/python"  # keyplane's own interpreter (scripts/demo_certs.py)
OUT=.keyplane/demo
# The demo's own sandbox and state, so a sandbox you started yourself is left alone.
export KEYPLANE_SANDBOX_STATE="$OUT/sandbox.json"
if [ -f "$KEYPLANE_SANDBOX_STATE" ]; then "$K" sandbox down >/dev/null 2>&1 || true; fi
rm -rf "$OUT" && mkdir -p "$OUT"
export KEYPLANE_AUDIT_LOG="$OUT/audit/events.jsonl"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate the inventory"
"$K" validate
step "synthesize the stacks (CDK Terrain): one per environment and cloud"
"$K" synth

step "start the local sandbox"
"$K" sandbox up --background
trap '"$K" sandbox down >/dev/null' EXIT

step "real terraform plan of prod-aws (hashicorp/aws provider), as a pull request makes it"
"$K" sandbox plan prod --output "$OUT/prod-aws.plan.json"

step "the PR gate on the real plan JSON (and the GCP stack's synthesized JSON)"
GATE=("$OUT/prod-aws.plan.json" cdktf.out/stacks/prod-aws/cdk.tf.json
      cdktf.out/stacks/prod-gcp/cdk.tf.json)
"$K" check "${GATE[@]}"
"$K" check "${GATE[@]}" --format json --output "$OUT/check.json"

step "terraform apply of prod-aws into the sandbox, then a second plan that must be empty"
"$K" sandbox apply prod

step "post-apply: rotation, drift, access review against the Terraform-built state"
"$K" post-apply prod --sandbox --format json --output "$OUT/post-apply-prod.json"
"$K" post-apply prod --sandbox

step "restore drills: a sign canary and an AWS Backup restore"
"$K" drill prod --sandbox --key code-signing --kind sign-canary \
  --evidence-location "$OUT/evidence/prod"
"$K" drill prod --sandbox --key ca-database --deadline-scale 0.01 \
  --evidence-location "$OUT/evidence/prod"

step "a certificate request signed inside KMS by code-signing's current generation (g4)"
"$K" csr prod code-signing --sandbox --subject "CN=code-signing.acme.example,O=Acme" \
  --evidence-location "$OUT/evidence/prod" --out "$OUT/code-signing.csr.pem"
if command -v openssl >/dev/null; then openssl req -in "$OUT/code-signing.csr.pem" -verify -noout; fi

step "certificates bound to key generations: two for code-signing@g4, one outliving its key"
# a throwaway CA signs the request twice; a copy of the inventory declares the certificates
"$PY" scripts/demo_certs.py "$OUT/code-signing.csr.pem" prod code-signing "$OUT"
CERT_ENVS="$OUT/repo/environments"
"$K" certs prod -d "$CERT_ENVS" --sandbox || [ $? -eq 1 ]  # exit 1: the 4000-day certificate
"$K" post-apply prod -d "$CERT_ENVS" --synth-dir cdktf.out --sandbox --format json \
  --output "$OUT/post-apply-prod-certs.json" || [ $? -eq 1 ]

step "incident response, as a dry run: what disabling code-signing@g4 would do"
"$K" incident prod code-signing@g4 -d "$CERT_ENVS" --sandbox \
  --reason "demo: a build host may have leaked it" \
  --evidence-location "$OUT/evidence/prod"

step "the evidence report"
# the post-apply run with the certificates: the report draws their timeline per key
"$K" report -d "$CERT_ENVS" --check-json "$OUT/check.json" \
  --post-apply-json "$OUT/post-apply-prod-certs.json" --evidence-dir "$OUT/evidence" \
  --output "$OUT/report.html"
"$K" report -d "$CERT_ENVS" --check-json "$OUT/check.json" \
  --post-apply-json "$OUT/post-apply-prod-certs.json" --evidence-dir "$OUT/evidence" \
  --format markdown --output "$OUT/report.md"
printf '\nreport: %s (and %s); plan: %s; audit events: %s\n' "$OUT/report.html" \
  "$OUT/report.md" "$OUT/prod-aws.plan.json" "$KEYPLANE_AUDIT_LOG"
