#!/usr/bin/env bash
# Move the coding agents' pins to their latest releases on npm, install them, and run the
# tests that drive them (tests/e2e/test_coding_agents.py, test_clients_guide.py). Commit package.json and
# package-lock.json when they pass.
set -euo pipefail
cd "$(dirname "$0")"
for pkg in @anthropic-ai/claude-code @openai/codex @google/gemini-cli ai @ai-sdk/openai; do
  latest=$(npm view "$pkg" version)
  npm pkg set "dependencies.$pkg=$latest"
  echo "$pkg $latest"
done
npm install --no-audit --no-fund --loglevel=error
cd ../..
.venv/bin/pytest -p no:cacheprovider -n 0 tests/e2e/test_coding_agents.py tests/e2e/test_clients_guide.py
