# Two commands: `make demo` (set up + convert the shipped example) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-all lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,torch,tf]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mindconverter --model_file examples/tiny_convnet.onnx --output output/tiny_convnet --overwrite --check-mode both
	@echo "--- output/tiny_convnet/report_of_tiny_convnet.txt"
	@cat output/tiny_convnet/report_of_tiny_convnet.txt
	@echo "--- output/tiny_convnet/tiny_convnet.py"
	@cat output/tiny_convnet/tiny_convnet.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check mindconverter tests examples benchmarks

clean:
	rm -rf output build *.egg-info .pytest_cache .ruff_cache
