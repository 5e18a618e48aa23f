#!/usr/bin/env bash
# The README's first command: install, then run the main job on the embedded SQLite database.
set -euo pipefail
# A relative MUSKTRACKER_POSTS_CSV names a file from where the script was started, not from
# the repository root it moves to.
data="${MUSKTRACKER_POSTS_CSV:-}"
case "$data" in
  "" | /*) ;;
  *) data="$PWD/$data" ;;
esac
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/musktracker quickstart --data "${data:-../shared/data/elonmusk/posts.csv}"
