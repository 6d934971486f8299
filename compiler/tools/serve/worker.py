"""A playground worker: ``python -m netc.tools.serve.worker [MEMORY_BYTES]``.

Reads one JSON request per line on stdin, writes one JSON answer per line on stdout:
["ok", result] | ["user", diagnostics] | ["memory", null] | ["size", bytes] | ["failed", message].
Limits its own address space to MEMORY_BYTES first. Never imports torch. An answer over
``netc.tools.serve.pool.MAX_ANSWER`` bytes is not sent: ["size", its length] is, so the server never
holds more than that of one answer.
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
    from netc.dsl.errors import NetcError
    from netc.tools.serve import work
    from netc.tools.serve.pool import MAX_ANSWER
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
        except NetcError as e:               # an error in the spec that work.handle did not place
            reply = ["user", work.diagnostics([e], str(req.get("filename") or ""))]
        except MemoryError:
            reply = ["memory", None]
        except RecursionError:
            reply = ["user", [work.plain_diagnostic("the spec nests too deeply to check")]]
        except Exception as e:               # a bug in netc: say which, keep serving
            reply = ["failed", f"{type(e).__name__}: {e}"[:500]
                     + ("\n" + traceback.format_exc()[-3000:] if os.environ.get("NETC_DEBUG") else "")]
        try:
            text = json.dumps(reply)
        except MemoryError:
            text = json.dumps(["memory", None])
        except (TypeError, ValueError, RecursionError) as e:
            text = json.dumps(["failed", f"the answer could not be written: {type(e).__name__}"])
        if len(text) > MAX_ANSWER:
            text = json.dumps(["size", len(text)])
        reply = None
        out.write(text + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
