#!/usr/bin/env bash
# README command one, on a fresh machine: install, make a demo voice (random weights with the real
# v2.3 architecture + tiny random BERTs: NOT speech), export and verify its graphs, assemble a
# Triton repository, serve it on the pip-bundled tritonserver, synthesize a wav through the
# ensemble, stop the server. Needs nothing but this repository and the package registry.
#
#   bash scripts/demo.sh [LAST]   run the steps up to LAST: install voice export repository speak
#                                 (default: all)
#   DEMO_TINY=1     tiny voice dims (faster)      DEMO_DIR=DIR  output folder (default demo)
#   DEMO_TEXT=...   what to say                   DEMO_INSTALL=0  use the active environment
#
# Re-runnable after a failure or a kill at any point: each step builds into DIR.partial and
# renames it to DIR only when complete, then records its inputs in $DEMO_DIR/.steps/; a step
# whose output and record are in place is skipped, anything else is rebuilt from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
LAST=${1:-speak}
STEPS="install voice export repository speak"
case " $STEPS " in *" $LAST "*) ;; *)
  echo "usage: bash scripts/demo.sh [LAST]; LAST is one of: $STEPS (got '$LAST')" >&2
  exit 2
  ;;
esac
OUT=${DEMO_DIR:-demo}
SIZE=$([ "${DEMO_TINY:-0}" = 1 ] && echo --tiny || echo "")
TEXT=${DEMO_TEXT:-"你好，世界！这是一个演示。"}
T0=$SECONDS
export HF_HUB_DISABLE_PROGRESS_BARS=1 # no tqdm bars from transformers between our lines

say() { printf '[demo %s] %s\n' "$(date +%T)" "$*"; }
names() { # what the README's examples call the demo voice, read from its voice.json
  local speakers
  speakers=$(python -c "import json, sys; print(', '.join(json.load(open(sys.argv[1]))['speakers']))" \
    "$OUT/voice/demo/voice.json")
  say "names to use: voice demo; speakers $speakers; repository $OUT/repository"
  say "next: ${ACTIVATE}tts-serve --repository $OUT/repository   (then README.md, 'Speak to it')"
}
done_after() { # stop here when LAST is the step just finished
  if [ "$LAST" = "$1" ]; then
    say "stopped after step '$1' as asked ($((SECONDS - T0)) s)"
    [ "$1" = repository ] && names
    exit 0
  fi
}
# step NAME DIR KEY BUILD: unless DIR exists and .steps/NAME holds KEY, run `BUILD DIR.partial`
# (BUILD writes its whole output there) and rename DIR.partial to DIR.
step() {
  local name=$1 dir=$2 key=$3 build=$4 t0=$SECONDS
  if [ -d "$dir" ] && [ "$(cat "$OUT/.steps/$name" 2>/dev/null)" = "$key" ]; then
    say "$name: $dir is complete, skipped"
    return
  fi
  say "$name: building $dir ..."
  mkdir -p "$OUT/.steps" "$(dirname "$dir")"
  rm -f "$OUT/.steps/$name"
  rm -rf "$dir.partial"
  # the tools' "next:" lines are the demo's own next steps, and the paths they print are the
  # renamed ones: only the step's final folder exists when the demo is done
  "$build" "$dir.partial" 2>&1 | sed -u -e '/^next: /d' -e "s#$dir\.partial#$dir#g"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  printf '%s\n' "$key" >"$OUT/.steps/$name"
  say "$name: done in $((SECONDS - t0)) s"
}

ACTIVATE=""
if [ "${DEMO_INSTALL:-1}" = 1 ]; then
  ACTIVATE=". .venv/bin/activate; "
  bash scripts/install.sh
  . .venv/bin/activate
else
  say "install: skipped (DEMO_INSTALL=0), using $(command -v python)"
fi
done_after install

build_voice() { tts-export demo-voice --out "$1" $SIZE; }
build_export() {
  tts-export onnx --checkpoint "$OUT/src/voice/G_0.pth" --out "$1" --name demo \
    --bert ZH="$OUT/src/bert/ZH" --bert EN="$OUT/src/bert/EN" --bert JP="$OUT/src/bert/JP"
  tts-export verify "$1" --phones 3 --phones 60
}
# --link: the repository's graph files are hard links to the voice folder's (one copy on disk)
build_repository() { tts-export repository --voice "$OUT/voice/demo" --out "$1" --link; }

# A key names the step's own settings and its input's key, so a changed input rebuilds after it.
KEY_VOICE="demo-voice ${SIZE:---full} seed 0"
step voice "$OUT/src" "$KEY_VOICE" build_voice
done_after voice
KEY_EXPORT="onnx+verify <- $KEY_VOICE"
step export "$OUT/voice/demo" "$KEY_EXPORT" build_export
done_after export
step repository "$OUT/repository" "repository <- $KEY_EXPORT" build_repository
done_after repository

read -r HTTP GRPC METRICS < <(python -c "
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(('127.0.0.1', 0))
print(*[s.getsockname()[1] for s in socks])")
say "speak: starting tritonserver on $OUT/repository (loads every model; up to a few minutes)"
tts-serve --repository "$OUT/repository" --http-port "$HTTP" --grpc-port "$GRPC" \
  --metrics-port "$METRICS" &
SERVER=$!
stop_server() { kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; }
trap stop_server EXIT
trap 'exit 130' INT TERM # run the EXIT trap (stop the server) on Ctrl-C or kill too
t0=$SECONDS
until curl -sf "http://127.0.0.1:$HTTP/v2/health/ready" >/dev/null; do
  kill -0 "$SERVER" 2>/dev/null || { say "speak: tritonserver exited before it was ready" >&2; exit 1; }
  if [ $((SECONDS - t0)) -ge 900 ]; then
    say "speak: tritonserver not ready after 900 s; giving up" >&2
    exit 1
  fi
  [ $(((SECONDS - t0) % 15)) -eq 14 ] && say "speak: waiting for tritonserver ($((SECONDS - t0)) s)"
  sleep 1
done
say "speak: server ready after $((SECONDS - t0)) s"
tts voices --url "127.0.0.1:$GRPC"
# `tts say` writes the file only once the whole audio is there: no partial file to rename
tts say "$TEXT" --voice demo --url "127.0.0.1:$GRPC" --seed 1 -o "$OUT/hello.wav"
stop_server
say "demo done in $((SECONDS - T0)) s: wrote $OUT/hello.wav (random weights: noise, not speech)"
names
