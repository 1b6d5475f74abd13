.PHONY: install test lint typecheck check up bench

install:
	pip install -e '.[test]'

test:
	python -m pytest -n 2

lint:
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks

typecheck:
	mypy

check: lint typecheck test

up:
	qplane up

bench:
	python benchmarks/e2e.py
