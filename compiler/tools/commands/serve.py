"""netc serve [SPEC] [--port 8000] : the live playground in a browser.

An editor on the left, on the right the diagram, the summary and the errors, updated as you type.
Binds to 127.0.0.1 unless --host says otherwise. Each check runs in a worker process with a time
(--timeout) and memory (--memory-mb) budget. It answers only requests addressed to it (Host:
127.0.0.1, localhost, [::1], the --host given and any --allow-host, with its port) from its own
pages (Origin), so no other web site can use it through the browser. Exit status 0 when stopped
(Ctrl-C), 2 on usage errors.
"""
from __future__ import annotations

import socket
import sys

from netc.dsl.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="the live playground: edit a spec in the browser, see its diagram",
                       description="Serve a page with an editor and the live diagram, summary and errors of "
                                   "the spec. Nothing in a spec is executed.")
    p.add_argument("spec", nargs="?", metavar="SPEC[:CONFIG]",
                   help="the spec to open (a path or a bundled name: vgg:D); a small example when omitted")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--workers", type=int, default=2, help="worker processes that check specs (default 2)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds one check may take (default 3)")
    p.add_argument("--memory-mb", type=int, default=2048, help="address space of a worker in MiB (default 2048)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests addressed to NAME (Host header), e.g. this machine's name when "
                        "--host binds beyond loopback; 127.0.0.1, localhost, [::1] and --host are always accepted")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        import uvicorn
        from netc.tools.serve.app import create_app
    except ImportError as e:
        raise UsageError(f"netc serve needs starlette and uvicorn ({e.name} is missing)",
                         hint='pip install "netc[serve]"') from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port takes 0..65535, not {args.port}")
    if args.workers < 1 or args.timeout <= 0 or args.memory_mb < 256:
        raise UsageError("--workers must be at least 1, --timeout positive, --memory-mb at least 256")
    text, filename, config = None, "playground.net", None
    if args.spec:
        from netc.tools.serve.work import read_spec
        text, filename, config = read_spec(args.spec)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror}",
                         hint="pick another --port (0 picks a free one)") from None
    host, port = sock.getsockname()[:2]
    hosts = [args.host, host, *args.allow_host]
    if host in ("0.0.0.0", "::"):          # every interface: this machine's own names too
        hosts += [socket.gethostname(), socket.getfqdn()]
    app = create_app(text, filename, config, workers=args.workers, timeout=args.timeout,
                     memory=args.memory_mb << 20, hosts=hosts, port=port)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"netc serve: http://{shown}:{port}/  ({filename}; Ctrl-C stops)", file=sys.stderr, flush=True)
    if not _loopback(host):
        print(f"netc serve: note: listening on {host}, not only this machine: whoever reaches it can use "
              "the playground (it reads only the spec given and the bundled ones); it answers to "
              f"{', '.join(sorted(set(h for h in hosts if h)))} (--allow-host adds a name)",
              file=sys.stderr, flush=True)
    config_ = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2,
                             proxy_headers=False, server_header=False)
    server = uvicorn.Server(config_)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0


def _loopback(host: str) -> bool:
    import ipaddress
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
