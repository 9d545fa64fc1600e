# One command each, on a fresh machine with Python >= 3.11 (they install what they need into .venv):
#   make run    - the main job on its embedded defaults: featmech reproduce --quick -> out/report/report.html
#   make test   - the test suite (slow experiments excluded; make test-slow runs them)
#   make bench  - the benchmarks (writes BENCHMARKS.md; the evidence grid, ~20 min: python benchmarks/bench_evidence.py)
# PYTHON defaults to the newest python3.X >= 3.11 on the PATH (override: make test PYTHON=/path/to/python).
ifndef PYTHON
PYTHON := $(firstword $(foreach p,python3.13 python3.12 python3.11 python3,$(shell command -v $(p) >/dev/null 2>&1 && $(p) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $(p))))
endif
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-slow bench clean

$(BIN)/.installed: pyproject.toml constraints.txt setup.py
	@test -n "$(PYTHON)" || { echo "featmech needs Python >= 3.11: none found on the PATH (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,data,torch,sweep,explore]" -c constraints.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/featmech reproduce --quick --out out/report

test: $(BIN)/.installed
	$(BIN)/python -m pytest

test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -m slow

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_phase.py
	$(BIN)/python benchmarks/bench_monitor.py
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_explore.py
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/bench_linear.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info src/*.egg-info
