#!/usr/bin/env bash
# Run every test: JUnit (through Maven) and pytest. Assumes scripts/setup.sh has run.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd fiji_plugin && mvn -o -B -Dmaven.repo.local=/usr/share/maven-repo package)
.venv/bin/python -m pytest "$@"
