#!/usr/bin/env bash
# npm test's static checks, side by side: the type check and the format check; either failing fails the run.
# npm test runs this as tests/checks.test.ts, beside the builds of other suites: tsconfig.checks.json leaves out
# next-env.d.ts, which a build rewrites (its route types are checked by next build itself).
set -u
npx tsc --noEmit -p tsconfig.checks.json & tsc=$!
npm run -s format:check & format=$!
status=0
wait "$tsc" || status=1
wait "$format" || status=1
exit "$status"
