"""``genprior serve``: the local web app (:mod:`genprior.web`), served by uvicorn."""

from __future__ import annotations

import sys

from genprior.errors import GenpriorError

WEB_MODULES = ("starlette", "uvicorn", "python_multipart")  # what the web extra installs
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parsers(sub) -> None:
    from genprior.cli import integer_arg

    p = sub.add_parser("serve", help="a local web app: measure an image, recover it, compare the methods "
                                     '(needs pip install "genprior[web]")')
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; another address exposes the "
                        "app, which has no login, to the network)")
    p.add_argument("--port", type=integer_arg(1, 65535), default=8765, help="port (default 8765)")
    p.add_argument("--workers", type=integer_arg(1, 8), default=1,
                   help="recoveries run at the same time (default 1; each uses all of torch's threads)")
    p.add_argument("--queue", type=integer_arg(0, 100), default=4,
                   help="recoveries that may wait for a worker; beyond, a request is answered 'busy' (default 4)")
    p.add_argument("--max-upload-mb", type=integer_arg(1, 100), default=5, help="largest image upload in MB (default 5)")
    p.add_argument("--max-side", type=integer_arg(8, 16384), default=2048,
                   help="largest image side in pixels that is decoded (default 2048)")
    p.set_defaults(func=cmd_serve)


def check_web_extra() -> None:
    """Raise a one-line ``GenpriorError`` naming the pip command when the web extra is not installed."""
    import importlib.util

    missing = [m for m in WEB_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise GenpriorError(f"genprior serve needs the web extra ({', '.join(missing)} missing): "
                            'pip install "genprior[web]"')


def cmd_serve(args) -> int:
    check_web_extra()
    import uvicorn

    from genprior.progress import say
    from genprior.web.app import create_app

    loopback = args.host in LOOPBACK
    if not loopback:
        print(f"genprior: warning: serving on {args.host}, not 127.0.0.1: anyone who can reach this address can use "
              "the app (it has no login)", file=sys.stderr)
    app = create_app(max_upload_bytes=args.max_upload_mb * 2**20, max_side=args.max_side,
                     max_pixels=args.max_side ** 2, workers=args.workers, queue_size=args.queue,
                     allowed_hosts=("127.0.0.1", "localhost") if loopback else None)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    say(f"genprior serve: http://{shown}:{args.port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
