# The two commands of the README: `make demo` and `make test`. Each creates .venv on a fresh machine.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean system-deps fuzz soak reliability-table

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# A guided tour on an embedded SeaweedFS: a section per capability, a one-screen summary,
# and demo-report/index.html with its plots.
demo: $(STAMP)
	$(VENV)/bin/tierfs-bench demo --out demo-report

# Headless Chromium renders the daemon's status page in the tests (Debian package, as root).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else echo "install chromium (apt-get install chromium) for the status-page test"; fi; }

test: $(STAMP) system-deps
	$(PY) -m pytest -q

# Coverage-guided fuzzing (atheris) of every parser at a trust boundary, FUZZ_SECONDS each;
# corpora and crash inputs go to build/fuzz/, seeds come from fuzz/seeds/ where present.
FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	@for target in fuzz/fuzz_*.py; do name=$$(basename $$target .py); out=$(CURDIR)/build/fuzz; \
	  mkdir -p $$out/$$name && echo "== $$name ($(FUZZ_SECONDS) s)" && \
	  $(PY) $$target $$out/$$name $$(ls -d $(CURDIR)/fuzz/seeds/$$name 2>/dev/null) \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=$$out/$$name- -print_final_stats=1 || exit 1; done

# Load and soak, bounded and not part of `make test`: the daemon under 16 clients for
# SOAK_SECONDS with a SIGKILL restart every 30 s, then SOAK_WRITER_ROUNDS SIGKILLs of a
# write-back writer; prints the figures and writes build/reliability/soak.json.
SOAK_SECONDS ?= 600
SOAK_WRITER_ROUNDS ?= 100
soak: $(STAMP)
	$(PY) -m soak.run --seconds $(SOAK_SECONDS) --writer-rounds $(SOAK_WRITER_ROUNDS)

# The README's reliability table, rendered from the latest build/reliability/*.json
# (written by tests/faults and make soak).
reliability-table: $(STAMP)
	$(PY) -m soak.reliability_table --readme README.md

lint: $(STAMP)
	$(VENV)/bin/ruff check src server bench tests soak fuzz

clean:
	rm -rf $(VENV) build *.egg-info
