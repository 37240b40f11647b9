# MedSynth Studio — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements.stamp
WORKSPACE ?= workspace
PORT   ?= 8501

.PHONY: demo test test-fast venv bench clean-venv

venv: $(STAMP)

# (Re)build the virtual environment when it is missing or requirements.txt changed.
$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

demo: $(STAMP)
	@$(PY) -m synth_core --workspace $(WORKSPACE) demo-data --if-missing
	@$(PY) -m training --workspace $(WORKSPACE) install-demo-runs
	@test -d $(WORKSPACE)/synthetic/demo-set || $(PY) -m synth_core --workspace $(WORKSPACE) synthesize \
		--run demo-multimodal --n 48 --batch 16 --name demo-set
	@test -f $(WORKSPACE)/synthetic/demo-set/evaluation.parquet || $(PY) -m synth_core --workspace $(WORKSPACE) \
		evaluate --set demo-set --real demo --n-frd 16
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false -- --workspace $(WORKSPACE)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks

clean-venv:
	rm -rf $(VENV)
