# Sourced by scripts/test.sh and scripts/showcase.sh. Under CI=true every run starts as on a fresh
# machine: a new empty temporary directory and cache directory (XDG_CACHE_HOME), no NETC_CACHE_DIR,
# so that anything that works only with warm caches fails in CI as it would for a new user. The set-up
# (pip, npm) keeps the machine's own configuration in HOME; netc's own first run with a read-only
# home is tested in tests/tools/test_fresh_machine.py.
if [ "${CI:-}" = true ]; then
    NETC_FRESH=$(mktemp -d "${TMPDIR:-/tmp}/netc-fresh.XXXXXX")
    mkdir -p "$NETC_FRESH/tmp" "$NETC_FRESH/cache"
    export TMPDIR="$NETC_FRESH/tmp" XDG_CACHE_HOME="$NETC_FRESH/cache"
    unset NETC_CACHE_DIR
    trap 'rm -rf "$NETC_FRESH"' EXIT
    echo "fresh machine: TMPDIR and XDG_CACHE_HOME are new and empty ($NETC_FRESH)"
fi
