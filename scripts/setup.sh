#!/usr/bin/env bash
# Create or reuse the virtual environment at .venv (repository root) and install netc into it
# with its extras: the CPU build of PyTorch first, then `pip install -e .[torch,test]`.
# Installs Graphviz (`dot`) through apt-get where it is missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=${NETC_TORCH_VERSION:-2.13.0}

if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Graphviz (apt-get install graphviz)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
            || echo "setup: could not install Graphviz; netc render will write DOT text only"
    else
        echo "setup: Graphviz 'dot' not found; install it (Debian: sudo apt-get install graphviz)"
    fi
fi

# Chromium for the playground's browser tests (driven by playwright with executable_path; no download).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Chromium for the browser tests (apt-get install chromium)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "setup: could not install Chromium; the browser tests will be skipped"
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# The CPU wheel first: a bare `torch` requirement would pull a multi-GB CUDA build.
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    echo "setup: installing torch==$TORCH_VERSION (CPU)"
    "${PIP[@]}" "torch==$TORCH_VERSION" 2>/dev/null \
        || "${PIP[@]}" "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
fi

if ! .venv/bin/python -c "import netc, lark, pydantic, networkx, graphviz, pytest, hypothesis, onnxruntime, sklearn, starlette, uvicorn, playwright, pygls, pytest_lsp, pygments" >/dev/null 2>&1 \
        || [ pyproject.toml -nt .venv/.netc-installed ]; then
    echo "setup: installing netc with its extras (pip install -e .[torch,test])"
    "${PIP[@]}" -e ".[torch,test]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import netc" && touch .venv/.netc-installed
fi

# The playground's scripts (CodeMirror 6 and @panzoom/panzoom), bundled by esbuild from playground/
# (package-lock.json, build.mjs) into compiler/tools/serve/static/{editor,viewer}.js. The bundles are
# committed (a wheel from a clean checkout holds them); this rebuilds them only after playground/ changed.
STATIC=compiler/tools/serve/static
if [ ! -f "$STATIC/editor.js" ] || [ ! -f "$STATIC/viewer.js" ] \
        || [ -n "$(find playground/src playground/build.mjs playground/package-lock.json -newer "$STATIC/viewer.js" 2>/dev/null)" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "setup: building the playground's scripts (npm ci && npm run build in playground/)"
        (cd playground && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run --silent build >/dev/null) \
            || echo "setup: could not build the playground's scripts; the committed bundles stay"
    else
        echo "setup: npm not found; the committed playground bundles are used"
    fi
fi

# Byte-compile netc, as pip does for an installed (non-editable) package: with PYTHONDONTWRITEBYTECODE
# set, an editable install would otherwise recompile every module on each run of the CLI.
.venv/bin/python -m compileall -q compiler dsl visualize >/dev/null || true
