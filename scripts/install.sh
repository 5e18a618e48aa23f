#!/usr/bin/env bash
# Creates .venv and installs MuskTracker with everything it and its tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0  # CPU build; before anything that needs torch
.venv/bin/python -m pip install -q -e '.[dev,sentiment]'
