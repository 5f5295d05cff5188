#!/usr/bin/env bash
# make demo: the case study end to end — a TensorFlow recommendation service linted, built,
# scanned, pushed to an authenticated registry, deployed from it, autoscaled under load,
# rolled out and rolled back — with demo/out/report.html and demo/out/summary.json.
#
# The demo keeps its own state root (demo/out/state) and runs its daemon, registry, pods and
# Services in a private network namespace: it never touches the host's dockyard state, its
# bridge or its nftables. Builds run on the host's network (RUN steps reach PyPI through
# slirp4netns, with the host's CA bundle and pip index settings as build secrets).
#
# Environment: DEMO_RATE_HIGH (req/s under load, 180), DEMO_RATE_LOW (15), DEMO_CPU_WORK
# (scoring passes per request, 500), DEMO_OSV (OSV feeds to scan against), DEMO_CA_BUNDLE.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=".venv/bin/python"
start=$(date +%s)

$PY demo/story.py build
unshare --net --mount --propagation private -- $PY demo/story.py cluster
printf '\n\033[1m== 9/9 report\033[0m\n'
$PY -c "import json,sys; p='demo/out/facts.json'; f=json.load(open(p)); f['demo_seconds']=$(( $(date +%s) - start )); json.dump(f, open(p,'w'), indent=1)"
$PY demo/report.py
echo "make demo took $(( $(date +%s) - start ))s; open demo/out/report.html"
