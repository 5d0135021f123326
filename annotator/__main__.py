"""Run ``python -m annotator`` as the ``annotator`` command."""

from __future__ import annotations

from annotator.cli import main

raise SystemExit(main())
