#!/usr/bin/env bash
# Set up, then run the whole job on built-in defaults: make a small synthetic cell dataset, train I.M.D.D.,
# classify images with the saved model. Output goes to ./omniclas-demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/omniclas demo --out omniclas-demo
