# hwadmin: `make demo` sets up and runs the service on embedded defaults;
# `make test` runs every test. Both install what they need first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test install browser clean unused-model unused-model-bundle attribute-tagger attribute-remeasure attribute-electra \
	pretrained-model domain-pretraining-data domain-electra serve lint fmt

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# Debian's Chromium (and a Korean font for its screenshots), for the browser tests (Playwright drives it; nothing is downloaded by Playwright).
browser:
	@{ command -v chromium && [ -d /usr/share/fonts/truetype/nanum ]; } >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver fonts-nanum; }

demo: install
	scripts/demo

test: install browser
	scripts/test

# The production set (gunicorn, a Celery worker, beat) on PostgreSQL and Redis, DEBUG off; environment from
# deploy/hwadmin.env (or HWADMIN_ENV_FILE) and the environment (deploy/hwadmin.env.example lists it).
serve: install
	scripts/serve

# Lint and format with ruff (settings in pyproject.toml); `make test` runs `lint` first.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var artifacts

# Rebuild the shipped unused-review classifier (models/unused-electra) from ../shared/data and data/labelled,
# fine-tuned from the shipped domain-pretrained base (models/domain-electra; `make domain-electra` rebuilds that).
unused-model: install
	DEBUG=1 $(PY) manage.py build_unused_model --base-model models/domain-electra --output models/unused-electra

# The same recipe's inputs for a GPU machine (about a minute here): the labelled set, the teacher-scored pool and
# their Kiwi morphemes in var/bundles/unused. There, with plm/ and models/domain-electra beside it and torch,
# transformers and scikit-learn alone: python -m plm.finetune_bundle var/bundles/unused --out DIR
unused-model-bundle: install
	DEBUG=1 $(PY) manage.py build_unused_model --base-model models/domain-electra --export-bundle var/bundles/unused

# Rebuild the shipped attribute tagger (models/attributes-backoff) from data/labelled/attributes and its ELECTRA
# partner (models/attributes-backoff/partner, exported to int8 ONNX again): about 2 minutes; backoff.json and
# backoff.safetensors the same bytes every time, topic.json on one machine (its regression reads the int8 partner's
# probabilities, whose last digits differ between CPUs: the same agreement, other coefficients in the third decimal). (DEBUG=1: a workshop command on a development machine, no SECRET_KEY needed.)
attribute-tagger: install
	DEBUG=1 $(PY) manage.py build_attribute_tagger --output models/attributes-backoff \
		--partner models/attributes-backoff/partner

# The partner's own test figures again, on the labelled sentences as they are now (after new test labels; its
# training record stays): python -m plm.attributes_model remeasure DIR, for any attribute model directory.
attribute-remeasure: install
	$(PY) -m plm.attributes_model remeasure models/attributes-backoff/partner

# Rebuild the partner too: an ELECTRA (models/unused-electra's architecture and tokenizer, new weights) distilled from
# the phrases and the regression alone (var/attributes-regression, built first) on 60,000 sentences of train-split
# products' reviews (about 25 minutes on two cores; its card, README.md, is kept), then the tagger around it.
attribute-electra: install
	DEBUG=1 $(PY) manage.py build_attribute_tagger --output var/attributes-regression --topic-check no
	DEBUG=1 $(PY) manage.py finetune_classifier attributes --model models/unused-electra --init random \
		--preprocess kiwi-morphemes --output models/attributes-backoff/partner --weak-labels 60000 \
		--weak-teacher var/attributes-regression --weak-weight 1.0 --epochs 5 --patience 5 --learning-rate 1e-3 \
		--batch-size 32 --max-length 64 --threads 2
	$(MAKE) attribute-tagger

# The domain-pretrained base of the shipped unused classifier (models/domain-electra). The data: the unlabelled beauty
# pool and NSMC as Kiwi morphemes, packed into token ids (about 4 minutes on two cores). The pretraining:
# replaced-token detection in PyTorch, made for one GPU (8 minutes of an H200 for the shipped base; on a CPU the same
# budget trains a fraction of the steps). On a GPU machine without this checkout's environment, copy
# var/domain-pretraining and plm/ there and run the second line with its python (torch and transformers alone).
domain-pretraining-data: install
	DEBUG=1 $(PY) manage.py build_domain_pretraining --general nsmc --out var/domain-pretraining

domain-electra: domain-pretraining-data
	$(PY) -m plm.electra.torch_pretrain var/domain-pretraining --out models/domain-electra --seconds 480 \
		--batch-size 1024 --learning-rate 1.5e-3 --log-every 1000

# Rebuild the shipped pretrained discriminator (models/pretrained-electra): both pretraining runs side by side,
# their fine-tuned comparison, the better one ported (benchmarks/domain_vs_general.sh; hours on two cores).
pretrained-model: install
	benchmarks/domain_vs_general.sh
