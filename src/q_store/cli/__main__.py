"""``python -m q_store.cli``: the ``q-store`` command."""

from q_store.cli import main

raise SystemExit(main())
