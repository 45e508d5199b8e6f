#!/usr/bin/env bash
# Lint gate: ruff (lint + format check, 99 columns) over everything, mypy over the ROS-free core.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
V=.venv/bin
echo "[lint] ruff check"
"$V/ruff" check .
echo "[lint] ruff format --check"
"$V/ruff" format --check .
echo "[lint] mypy vla_ros/vla_ros/core"
"$V/mypy" --config-file mypy.ini vla_ros/vla_ros/core
