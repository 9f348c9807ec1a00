#!/usr/bin/env bash
# The README test command: install into .venv, then run the whole suite on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
# The install takes about 3 GB and a run writes gigabytes more under pytest's basetemp (deleted
# when the run is green): say what is free first, so a "No space left on device" explains itself.
for where in . "${TMPDIR:-/tmp}"; do
  printf '[test] free disk at %s: %s\n' "$where" "$(df -Ph "$where" | awk 'NR==2 {print $4}')" >&2
done
bash scripts/install.sh
. .venv/bin/activate
set +e
# every test, the slow ones (soak, benchmarks, bare clone) included
python -m pytest -q -p no:cacheprovider --durations=25 -m "slow or not slow" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$rc"
