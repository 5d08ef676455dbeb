# migrator: the two commands that matter are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install deps demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[sandbox,test]'
	touch $(STAMP)

## install: the Python environment in .venv (editable install with the sandbox and test extras)
install: $(STAMP)

## deps: system tools the end-to-end tests drive (nginx, Maven plugins, Verdaccio, ...); idempotent
deps:
	@for f in scripts/deps/*.sh; do [ -e "$$f" ] || continue; echo "deps: $$f"; bash "$$f" || exit 1; done

## demo: the main job end to end on the built-in sandbox
demo: install
	$(BIN)/python scripts/demo.py

## test: the whole suite (unit, contract, end-to-end on the sandbox, real third-party servers),
## on two processes (JOBS=1: one), a test file's tests in one process: they share its servers
JOBS ?= 2
test: install deps
	$(BIN)/pytest -n $(JOBS) --dist loadfile

## soak: the reliability suite (tests/reliability) with bigger parameters: more kills, more
## seeds, harder faults (MIGRATOR_SOAK=1); tens of minutes
.PHONY: soak
soak: install deps
	MIGRATOR_SOAK=1 $(BIN)/pytest -q tests/reliability

## lint: ruff, and the architecture's import contracts (pyproject.toml [tool.importlinter])
lint: install
	$(BIN)/ruff check migrator migrator_sandbox tests bench scripts
	$(BIN)/lint-imports --no-cache

## bench: every benchmark in bench/ (tens of minutes; each prints its table); QUICK=1: CI sizes
BENCHES := workqueue_bench.py crawl.py transfer.py mixed.py
bench: install
	@for f in $(BENCHES); do echo "== bench/$$f"; \
	    $(BIN)/python "bench/$$f" $(if $(QUICK),--quick) || exit 1; done
	@echo "== bench/crawl.py --artifactory"
	$(BIN)/python bench/crawl.py --artifactory 1000000 $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
