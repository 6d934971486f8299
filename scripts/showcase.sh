#!/usr/bin/env bash
# Set up (.venv, see scripts/setup.sh) and show what netc does, section by section.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NETC=.venv/bin/netc
OUT=${NETC_SHOWCASE_OUT:-out/showcase}
mkdir -p "$OUT"
section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

section "netc check specs/*.net  (every bundled spec, one line per configuration)"
$NETC check specs/*.net

section "netc summary vgg:D  (per layer: output, params, multiply-adds, receptive field)"
$NETC summary vgg:D
