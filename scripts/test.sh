#!/usr/bin/env bash
# Run every check: the import layers (lint-imports), JUnit (through Maven) and pytest. Assumes scripts/setup.sh has run.
# Real images come from tests/data (in the repository); ../shared/data is optional (tests marked shared_data).
# Extra arguments go to pytest, e.g. bash scripts/test.sh -m "not gui" tests/test_engine.py
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "error: no .venv here; run bash scripts/setup.sh first" >&2; exit 2; }
.venv/bin/lint-imports  # imports run one way (pyproject.toml: [tool.importlinter])
(cd fiji_plugin && mvn -o -B -Dmaven.repo.local=/usr/share/maven-repo package)
.venv/bin/python -m pytest "$@"
