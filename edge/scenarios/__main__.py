"""``python -m edge.scenarios NAME|all --out DIR``."""

from edge.scenarios import main

raise SystemExit(main())
