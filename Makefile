# Entry points: `make install`, `make suite NAME=tiny`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
NAME ?= tiny
FORCE ?=

.PHONY: install suite claims test test-slow bench bench-suite lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Idempotent: torch is pinned first so nothing later can pull a CUDA build.
install: $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIN)
	$(BIN)/pip install --quiet -e '.[dev]' $(TORCH_PIN)

suite: $(BIN)/prb
	$(BIN)/prb run $(NAME) $(if $(FORCE),--force,)

# The claims report: the claims suite, then results/claims/CLAIMS.md with its plots.
claims: $(BIN)/prb
	$(BIN)/prb run claims $(if $(FORCE),--force,)
	$(BIN)/prb claims claims

$(BIN)/prb:
	$(MAKE) install

test: $(BIN)/prb browser
	$(BIN)/pytest -q

# chromium for the headless-browser test of leaderboard.html; best effort here (without root the
# test skips and says why), required in CI (.ci/run).
browser:
	@.ci/install-browser || echo "make browser: no chromium; tests/test_html_leaderboard.py will skip"

test-slow: $(BIN)/prb
	$(BIN)/pytest -q -m slow

# Benchmarks (pytest-benchmark), apart from the tests; figures go to benchmarks/RESULTS.md
# (`.venv/bin/python benchmarks/report.py` prints its tables from the JSON). QUICK=1: tiny sizes,
# a smoke test of the benchmarks (its JSON is kept apart). `bench-suite` times a whole tiny suite.
BENCH_FLAGS := --benchmark-only --benchmark-columns=mean,stddev,rounds
bench: $(BIN)/prb
	$(BIN)/pytest -q benchmarks $(BENCH_FLAGS) \
		$(if $(QUICK),--quick --benchmark-json=benchmarks/latest-quick.json,--benchmark-json=benchmarks/latest.json)

bench-suite: $(BIN)/prb
	$(BIN)/pytest -q benchmarks/test_suite_walltime.py --bench-suite $(BENCH_FLAGS) \
		$(if $(QUICK),--quick --benchmark-json=benchmarks/latest-suite-quick.json,--benchmark-json=benchmarks/latest-suite.json)

lint: $(BIN)/prb
	$(BIN)/ruff check peft_rlvr_bench tests benchmarks
	$(BIN)/ruff format --check peft_rlvr_bench tests benchmarks

format: $(BIN)/prb
	$(BIN)/ruff format peft_rlvr_bench tests
	$(BIN)/ruff check --fix peft_rlvr_bench tests

clean:
	rm -rf outputs .pytest_cache .ruff_cache
