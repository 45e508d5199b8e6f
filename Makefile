# vla_ros: the README's commands. Every target sets itself up first (idempotent).
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help setup demo test test-fast lint format bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup:  ## create .venv, install pinned deps, build vla_ros_msgs (idempotent)
	@bash scripts/setup.sh

demo:  ## run the simulated demo (sets everything up first)
	@bash scripts/demo.sh $(ARGS)

test:  ## set up, lint (ruff, mypy) and run the full test suite
	@bash scripts/test.sh

test-fast:  ## set up and run the core (ROS-free) tests only
	@bash scripts/test.sh -m "not ros and not graph and not slow"

lint:  ## ruff lint + format check, mypy on the core
	@bash scripts/setup.sh && bash scripts/lint.sh

format:  ## apply ruff's formatter and autofixes
	@.venv/bin/ruff format . && .venv/bin/ruff check --fix .

bench:  ## run the benchmarks under bench/
	@bash scripts/setup.sh && bash bench/run_all.sh

clean:  ## remove the venv and build outputs
	rm -rf .venv build install log .pytest_cache .mypy_cache .ruff_cache
