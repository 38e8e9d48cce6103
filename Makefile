# Two commands on a fresh machine: `make bench` (the main job) and `make test`.
# Both create .venv on first use, installing the pinned versions in constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= torch,tf-cpu,dev
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: bench test install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

bench: $(STAMP)
	$(PY) -m pytest bench --benchmark-only $(ARGS)

test: $(STAMP)
	$(PY) -m pytest tests $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
