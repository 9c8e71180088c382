# The two commands a new user needs; both set up everything first (scripts/setup.sh).
.PHONY: setup demo test lint bench

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/tinyai demo

test: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/python -m pytest -m "not slow" -q

bench: setup
	@echo "benchmarks are run one by one; see BENCHMARKS.md for the command behind every number"
