# postroom: `make run` serves the dev profile, `make lint` checks layers, style and types, `make test`
# runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= var

.PHONY: run test test-scale lint bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	sh scripts/bootstrap-venv.sh $(PYTHON) $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	touch $(STAMP)

# init runs every time: the first time it creates the dev install and prints its two passwords
# once; after that it only upgrades, and both times it says where the console is and how to set
# a new password.
run: $(STAMP)
	@$(BIN)/postroom init --dev --data $(DATA)
	$(BIN)/postroom serve --data $(DATA)

test: $(STAMP)
	sh scripts/test-deps.sh
	sh scripts/test-postgres.sh $(BIN)/python
	# Four workers on two cores: the end-to-end files partly wait (timeouts, slow clients,
	# browsers). 2 -> 3 workers: 9m23s -> 7m41s (4,100 tests); at 3 the two cores were 75% busy,
	# at 4 87% (5,161 tests in 9m11s on a quiet 2-core Xeon): more workers would not help.
	$(BIN)/python -m pytest -n 4 --dist loadfile

# Ten thousand IMAP4 sessions idling over TLS within 512 MB (tests/scale/, loopback, a few
# minutes): not part of `make test`. POSTROOM_SCALE_CONNECTIONS=N for a smaller run.
test-scale: $(STAMP)
	$(BIN)/python -m pytest -m scale tests/scale

# The layers (import contracts in pyproject.toml), ruff, and mypy (strict on protocol/, the
# store's interfaces and service/): each must report nothing.
lint: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
