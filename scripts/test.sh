#!/usr/bin/env bash
# The README test command: install into .venv, then run the whole suite on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
set +e
# every test, the slow ones (soak, benchmarks, bare clone) included
python -m pytest -q -p no:cacheprovider -m "slow or not slow" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$rc"
