#!/usr/bin/env bash
# keyplane's main job on the example estate, end to end, against the local sandbox:
# validate, synth, the PR gate, a sandbox "deploy", post-apply checks, restore drills,
# and the evidence report. Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
K="${KEYPLANE:-.venv/bin/keyplane}"
OUT=.keyplane/demo
rm -rf "$OUT" && mkdir -p "$OUT"
export KEYPLANE_AUDIT_LOG="$OUT/audit/events.jsonl"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate the inventory"
"$K" validate
step "synthesize the stacks (CDK Terrain)"
"$K" synth
step "the PR gate on the synthesized stacks"
"$K" check cdktf.out
"$K" check cdktf.out --format json --output "$OUT/check.json"

step "start the local sandbox and apply prod to it"
"$K" sandbox up --background
trap '"$K" sandbox down >/dev/null' EXIT
"$K" sandbox apply prod

step "post-apply: rotation, drift, access review"
"$K" post-apply prod --sandbox --format json --output "$OUT/post-apply-prod.json"
"$K" post-apply prod --sandbox

step "restore drills: a sign canary and an AWS Backup restore"
"$K" drill prod --sandbox --key code-signing --kind sign-canary \
  --evidence-location "$OUT/evidence/prod"
"$K" drill prod --sandbox --key ca-database --deadline-scale 0.01 \
  --evidence-location "$OUT/evidence/prod"

step "the evidence report"
"$K" report --check-json "$OUT/check.json" --post-apply-json "$OUT/post-apply-prod.json" \
  --evidence-dir "$OUT/evidence" --out "$OUT/report.html"
"$K" report --check-json "$OUT/check.json" --post-apply-json "$OUT/post-apply-prod.json" \
  --evidence-dir "$OUT/evidence" --format markdown --out "$OUT/report.md"
printf '\nreport: %s (and %s); audit events: %s\n' "$OUT/report.html" "$OUT/report.md" \
  "$KEYPLANE_AUDIT_LOG"
