"""A playground worker: ``python -m netc.serve.worker [MEMORY_BYTES]``.

Reads one JSON request per line on stdin, writes one JSON answer per line on stdout:
["ok", result] | ["user", diagnostics] | ["memory", null] | ["failed", message].
Limits its own address space to MEMORY_BYTES first. Never imports torch.
"""
from __future__ import annotations

import json
import os
import sys
import traceback


def main(argv: list[str]) -> int:
    if argv:
        try:
            import resource
            limit = int(argv[0])
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
    # the protocol owns the real stdout; anything printed by accident goes to stderr
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4000))
    from netc.serve import work
    try:                                   # warm up: the first check pays for lazy imports
        work.handle({"op": "check", "text": work.STARTER, "filename": "<warm-up>"})
    except Exception:
        pass
    for line in sys.stdin:
        try:
            req = json.loads(line)
            reply = ["ok", work.handle(req)]
        except work.UserError as e:
            reply = ["user", e.diagnostics]
        except MemoryError:
            reply = ["memory", None]
        except RecursionError:
            reply = ["failed", "the spec nests too deeply to check"]
        except Exception as e:               # a bug in netc: say which, keep serving
            reply = ["failed", f"{type(e).__name__}: {e}"[:500]
                     + ("\n" + traceback.format_exc()[-3000:] if os.environ.get("NETC_DEBUG") else "")]
        try:
            text = json.dumps(reply)
        except MemoryError:
            text = json.dumps(["memory", None])
        out.write(text + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
