#!/usr/bin/env bash
# npm test's static checks, side by side: the type check and the format check; either failing fails the run.
set -u
npx tsc --noEmit & tsc=$!
npm run -s format:check & format=$!
status=0
wait "$tsc" || status=1
wait "$format" || status=1
exit "$status"
