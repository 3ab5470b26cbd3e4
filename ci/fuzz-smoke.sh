#!/usr/bin/env bash
# The CI fuzz smoke: ci/fuzz.sh with every target for a short time (30 s by
# default, FUZZ_SMOKE_SECONDS to change it), on the cores present, merging
# only into a temporary copy of the corpora so the checkout stays as it is.
# It fails like a campaign: a finding in a real target (copied into
# fuzz/regress/<target>/ to be kept), or the canary's planted bug not found.
# About 1.5 minutes on 2 cores once build-fuzz/ exists, under 4 from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ci/fuzz.sh --seconds "${FUZZ_SMOKE_SECONDS:-30}" --no-merge "$@"
