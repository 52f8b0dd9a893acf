#!/usr/bin/env bash
# A CI step after the merge, run from a stackctl project's root: deploy,
# then wait until what was deployed is healthy.
#
#   examples/ci/deploy-and-check.sh ENV
#
# `health --wait 5m` runs every check again, 2 s apart doubling to 30 s,
# until all pass twice in a row (warnings allowed) or 5 minutes are up; a
# stack whose deploy was rolled back fails at once. It writes health.xml
# (JUnit: a testsuite per stack, a testcase per check) for the CI system's
# test report, and prints the report of its last run.
#
# Exit codes: 0 deployed and healthy, 1 the deploy or a check failed,
# 3 invalid input, 5 deployed, but some check could not be made in time
# (access denied, throttled: never counted as healthy).
set -euo pipefail
env=${1:?usage: deploy-and-check.sh ENV}

# No terminal in CI: --yes answers the question a person would be asked.
stackctl deploy --env "$env" --yes
stackctl health --env "$env" --wait 5m --junit health.xml
