# Ledgermark: the two commands are `make demo` and `make test`; both run `make setup` first.
SHELL := /bin/bash
PY    := .venv/bin/python
PIP   := .venv/bin/pip
NPM   := npm install --prefer-offline --no-audit --no-fund --loglevel=error
FASHION_MNIST := /usr/share/datasets/fashion-mnist
IPFS_CID      := /usr/bin/ipfs_cid
CHROMIUM      := /usr/bin/chromium

.PHONY: setup demo test test-fast bench-gas bench-watermark bench-robustness bench-false-claims contracts slither clean

setup: .venv/.installed ganache/node_modules/.installed contracts/solcjs/node_modules/.installed \
       ipfs/jsipfs/node_modules/.installed $(FASHION_MNIST) $(IPFS_CID) $(CHROMIUM)

# torch first and pinned: any later 'torch' requirement is then already satisfied by the CPU build.
.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip 'setuptools>=77'  # the wheel test builds offline with these (no isolation)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,dev]'
	touch $@

%/node_modules/.installed: %/package.json
	cd $* && $(NPM)
	touch $@

# Debian packages: the Fashion-MNIST data set, Debian's CID tool (the reference bench/exp_cli_overhead.py
# times `ledgermark cid` against) and chromium (the browser tests/web/test_browser.py drives through Playwright).
# One grouped rule: one `apt-get update` for all.
$(FASHION_MNIST) $(IPFS_CID) $(CHROMIUM) &:
	SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist ipfs-cid chromium

demo: setup
	$(PY) -m registry.demo

test: setup
	$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-fast: setup
	$(PY) -m pytest -q -m "not daemon and not slow"

contracts: setup
	$(PY) contracts/build.py

# Slither on the contracts; fails on a medium/high finding not in contracts/slither/ACCEPTED.md (also in `make test`).
slither: setup
	$(PY) contracts/slither/check.py

bench-gas: setup
	$(PY) bench/gas.py --json docs/results/gas.json

bench-watermark: setup
	$(PY) bench/watermark.py --json docs/results/watermark.json --markdown docs/results/watermark.md

bench-robustness: setup
	$(PY) bench/robustness.py --json docs/results/robustness.json --markdown docs/results/robustness.md

bench-false-claims: setup
	$(PY) bench/false_claims.py --json docs/results/false_claims.json --markdown docs/results/false_claims.md

clean:
	rm -rf .venv */node_modules contracts/solcjs/node_modules ipfs/jsipfs/node_modules .pytest_cache
