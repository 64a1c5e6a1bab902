# Switchboard: the project's vocabulary. `make run` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# One stamp per set of extras: `run` installs the runtime (with the whatsmeow transport),
# `test`, `lint` and `bench` add the development tools (the `dev` extra) on top.
RUNTIME := $(VENV)/.installed
DEV     := $(VENV)/.installed-dev
PIP_E   := $(BIN)/python -m pip install -q --config-settings editable_mode=compat -e
PROTOS := $(shell find proto -name '*.proto')
GEN    := switchboard/.generated

.PHONY: run test lint proto bench install install-dev clean dev-keys

run: $(RUNTIME) $(GEN)
	$(BIN)/switchboard up

# Four workers on two cores: most tests wait on processes, brokers and databases.
PYTEST_ARGS ?= -n 4 --dist worksteal

test: $(DEV) $(GEN) lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(DEV) $(GEN)
	$(BIN)/ruff check .
	$(BIN)/mypy kernel services gateway launcher

proto: $(GEN)

bench: $(DEV) $(GEN)
	$(BIN)/python -m bench

install: $(RUNTIME)

install-dev: $(DEV)

# pip 23.1 or later builds the editable install with config settings (Python 3.11's own may
# be older); a newer pip is fetched only then.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q 'pip>=23.1'

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(PIP_E) '.[whatsmeow]'
	touch $@

$(DEV): $(RUNTIME)
	$(PIP_E) '.[dev,whatsmeow]'
	touch $@

# Generated code lives apart: ./switchboard/ (git-ignored), built from proto/ only.
$(GEN): $(RUNTIME) $(PROTOS)
	rm -rf switchboard
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	touch $@

# keys of your own for the dev overlay (deploy/k8s/overlays/dev/keys.dev.env; kept if present)
dev-keys: $(RUNTIME)
	$(BIN)/switchboard keys --env-file deploy/k8s/overlays/dev/keys.dev.env || true

clean:
	rm -rf switchboard var .pytest_cache .mypy_cache .ruff_cache
