# The two commands a new user needs; both set up everything first (scripts/setup.sh).
.PHONY: setup demo test bench

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/tinyai demo

test: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/python -m pytest -m "not slow" -q -n 2 --dist loadfile

# The peer libraries the benchmarks compare against (torchao); then run them one by one.
bench: setup
	.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	@echo "ready: run the scripts in benchmarks/ one by one; BENCHMARKS.md gives each command"
