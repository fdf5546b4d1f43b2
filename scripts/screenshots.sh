#!/usr/bin/env bash
# Take the documentation's screenshots again (docs/screenshots/, used by README.md and docs/fiji.md): the Fiji GUI
# tests drive a real ImageJ under Xvfb and, with OMNICLAS_SCREENSHOT_DIR set, save each documented window there.
# Assumes scripts/setup.sh has run (Xvfb, xdotool, .venv, Maven). PYTHON=... picks another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
(cd fiji_plugin && mvn -o -B -q -Dmaven.repo.local=/usr/share/maven-repo package -DskipTests)
OMNICLAS_SCREENSHOT_DIR=docs/screenshots OMP_WAIT_POLICY=PASSIVE "$PYTHON" -m pytest -m gui -p no:cacheprovider \
    tests/test_fiji_gui.py -k "menu_dialogs or starts_the_server_and_stops" "$@"
ls -l docs/screenshots
