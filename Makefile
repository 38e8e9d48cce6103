# Two commands on a fresh machine: `make bench` (the main job) and `make test`.
# Both create .venv on first use, installing the pinned versions in constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= torch,tf-cpu,jax,dev
# The stamp names what was installed (pyproject, constraints and EXTRAS): a change to any reinstalls.
STAMP  := $(VENV)/.installed-$(shell (cat pyproject.toml constraints.txt; echo '$(EXTRAS)') | cksum | cut -d' ' -f1)

.PHONY: bench test test-slow test-all install clean report baseline docs

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

bench: $(STAMP)
	$(PY) -m pytest bench --benchmark-only $(ARGS)

# One pytest-xdist worker per core (two on the 2-core reference machine); each test group of
# tests/conftest.py (a model, or a file) runs on one worker, longest groups first (docs/testing.md).
# TEST_WORKERS=0 runs in this process. Two tiers (docs/testing.md): `make test` is the quick one, every
# family and block type, every command and fault path (-m "not slow"); `make test-slow` the rest (a
# family's other depths and widths, the longer end-to-end runs); `make test-all` both in one run, as CI.
TEST_WORKERS ?= auto
PYTEST_XDIST := $(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder
test: $(STAMP)
	$(PYTEST_XDIST) -m "not slow" $(ARGS)

test-slow: $(STAMP)
	$(PYTEST_XDIST) -m slow $(ARGS)

test-all: $(STAMP)
	$(PYTEST_XDIST) $(ARGS)

# The docs site (mkdocs, Material theme, API pages from the docstrings) into site/; --strict fails on a
# broken link, a missing anchor or a page left out of the nav (mkdocs.yml, validation), as in .ci/run.
# Only the docs extra is needed: `make docs EXTRAS=docs` in a fresh checkout installs no framework.
docs: $(STAMP)
	$(PY) -m mkdocs build --strict --site-dir site

report: $(STAMP)
	$(PY) -m cnnbench.reports $(ARGS)

# Refresh the committed baseline: three smoke runs on this machine (compare gates their exact metrics and
# shows their timings), and COMMIT, the commit they measured: CI's paired timing comparison runs it as the
# baseline side (.ci/baseline-ref). Commit first: uncommitted changes are not in the commit named.
BASELINE_DIR ?= bench/baselines/smoke
baseline: $(STAMP)
	@git diff --quiet HEAD -- . ':(exclude)$(BASELINE_DIR)' || echo "make baseline: WARNING: uncommitted changes;" \
	  "COMMIT names HEAD, which does not have them"
	rm -rf $(BASELINE_DIR) && mkdir -p $(BASELINE_DIR)
	git rev-parse HEAD > $(BASELINE_DIR)/COMMIT
	for i in 1 2 3; do $(PY) -m pytest bench --benchmark-only --bench-profile smoke -p no:cacheprovider -q \
	  --benchmark-json=$(BASELINE_DIR)/run$$i.json || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks site
