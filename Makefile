# `make run` and `make test` each create .venv, install the package and run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# uv installs the dependencies in seconds where pip takes minutes: the uv on PATH if there is one,
# else uv from PyPI into the new venv; plain pip when neither works.  `make install INSTALLER=pip`
# forces pip.
INSTALLER ?= uv
UV     := $(shell command -v uv 2>/dev/null)

.PHONY: run test bench install docs clean

$(STAMP): pyproject.toml
	@if [ "$(INSTALLER)" = uv ] && [ -n "$(UV)" ]; then \
	    echo "installing into $(VENV) with $(UV)"; \
	    test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV) && \
	    $(UV) pip install --quiet --python $(BIN)/python -e '.[dev]'; \
	else \
	    test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || exit 1; \
	    if [ "$(INSTALLER)" = uv ] && { test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv; }; then \
	        echo "installing into $(VENV) with uv (from PyPI)"; \
	        $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'; \
	    else \
	        echo "installing into $(VENV) with pip"; \
	        $(BIN)/python -m pip install --quiet --upgrade pip && \
	        $(BIN)/python -m pip install --quiet -e '.[dev]'; \
	    fi; \
	fi
	touch $(STAMP)

install: $(STAMP)

# The main job: replay the embedded default (5-6 Feb 2026) and print where the report is.
# Python's bytecode is written even where PYTHONDONTWRITEBYTECODE is set (uv installs none): the
# libraries' sources would otherwise be compiled again on every run, ~3 s of CPU.
run: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/liqcascade run feb-2026 --out out

# pytest exits 5 when it collects no tests; that is not a failure of the suite.  The suite
# includes tests/test_lint.py (ruff, mypy) and tests/test_docs.py (mkdocs build --strict).
test: $(STAMP)
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The documentation site, built into site/ (`$(BIN)/mkdocs serve` to browse it while editing).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info site
