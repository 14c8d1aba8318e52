#!/bin/sh
# Benchmarks: tests/bench/run.sh [--quick] [--soak SECONDS] [--profile] [--keep-db]
set -e
cd "$(dirname "$0")/../.."
exec .venv/bin/python -m tests.bench "$@"
