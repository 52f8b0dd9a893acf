#!/usr/bin/env bash
# A CI step for a stackctl project, run from the project's root:
#
#   examples/ci/pipeline.sh ENV          validate, then show what would change
#   DEPLOY=1 examples/ci/pipeline.sh ENV also deploy it (on the main branch, say)
#
# Exit codes: 0 nothing to change or deployed, 1 a failure, 3 invalid input.
# Progress goes to stderr one line per CloudFormation event, so the CI log
# shows the deploy as it happens; stdout carries the results.
set -euo pipefail
env=${1:?usage: pipeline.sh ENV}

stackctl validate

# 0: nothing to change, 2: changes (shown above), anything else: a failure.
status=0
stackctl diff --env "$env" --exit-code || status=$?
case $status in
  0) echo "no changes in $env"; exit 0 ;;
  2) ;;
  *) exit "$status" ;;
esac

if [[ "${DEPLOY:-0}" == 1 ]]; then
  # No terminal in CI: --yes answers the questions a person would be asked.
  stackctl deploy --env "$env" --yes
  # The deployed outputs, as data for later steps.
  stackctl outputs --env "$env" --output json >stack-outputs.json
fi
