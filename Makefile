# Switchboard: the project's vocabulary. `make run` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROTOS := $(shell find proto -name '*.proto')
GEN    := switchboard/.generated

.PHONY: run test lint proto bench install clean dev-keys

run: $(STAMP) $(GEN)
	$(BIN)/switchboard up

# Four workers on two cores: most tests wait on processes, brokers and databases.
PYTEST_ARGS ?= -n 4 --dist worksteal

test: $(STAMP) $(GEN) lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP) $(GEN)
	$(BIN)/ruff check .
	$(BIN)/mypy kernel services gateway launcher

proto: $(GEN)

bench: $(STAMP) $(GEN)
	$(BIN)/python -m bench

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,whatsmeow]' --config-settings editable_mode=compat
	touch $@

# Generated code lives apart: ./switchboard/ (git-ignored), built from proto/ only.
$(GEN): $(STAMP) $(PROTOS)
	rm -rf switchboard
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	touch $@

# keys of your own for the dev overlay (deploy/k8s/overlays/dev/keys.dev.env; kept if present)
dev-keys: $(STAMP)
	$(BIN)/switchboard keys --env-file deploy/k8s/overlays/dev/keys.dev.env || true

clean:
	rm -rf switchboard var .pytest_cache .mypy_cache .ruff_cache
