"""``q-store dashboard``: serve the run store's runs as a live web page.

Runs being trained (by ``q-store train`` in another process) are followed as their events are
committed (every quarter second); finished runs can be compared. The page is served on
127.0.0.1 unless ``--host`` names another address together with ``--allow-remote``.
"""

from __future__ import annotations

import argparse

from q_store.cli.common import store_root

__all__ = ["add_arguments", "run_dashboard"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="run store directory (default: $QSTORE_DIR, ./qstore-runs)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host: everyone who reaches it reads every run "
                        "in the store (no authentication)")


def run_dashboard(args: argparse.Namespace) -> int:
    from q_store.dashboard.server import (
        DashboardServer,
        check_address,
        is_loopback,
        require_dashboard,
    )

    root = store_root(args.store)
    exposes = f"every run in the store {root}"
    check_address(args.host, args.port, allow_remote=args.allow_remote, exposes=exposes)
    require_dashboard()
    from q_store.dashboard.app import LOOPBACK_HOSTS, create_app
    from q_store.dashboard.hub import StoreSource

    source = StoreSource(root)  # a directory without a store is refused here
    loopback = is_loopback(args.host)
    app = create_app(source, title=f"Q-Store runs: {root}",
                     allowed_hosts=LOOPBACK_HOSTS if loopback else None)
    server = DashboardServer(app, args.host, args.port, allow_remote=args.allow_remote,
                             exposes=exposes)
    print(f"q-store dashboard: serving {root} on {server.url} (Ctrl-C stops)", flush=True)
    if not loopback:
        print(f"warning: {args.host} is not a loopback address: anyone who reaches it reads "
              f"{exposes} (no authentication, no TLS)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # uvicorn shut down cleanly first, then re-raises Ctrl-C
        print("q-store dashboard: stopped", flush=True)
    finally:
        source.close()
    return 0
