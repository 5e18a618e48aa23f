#!/usr/bin/env bash
# The README's first command: install, then run the main job on the embedded SQLite database.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/musktracker quickstart --data "${MUSKTRACKER_POSTS_CSV:-../shared/data/elonmusk/posts.csv}"
