#!/usr/bin/env bash
# README command one, on a fresh machine: install, make a demo voice (random weights with the real
# v2.3 architecture + tiny random BERTs: NOT speech), export and verify its graphs, assemble a
# Triton repository, serve it on the pip-bundled tritonserver, synthesize a wav through the
# ensemble, stop the server. Set DEMO_TINY=1 for tiny dims (faster), DEMO_DIR for the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
OUT=${DEMO_DIR:-demo}
SIZE=$([ "${DEMO_TINY:-0}" = 1 ] && echo --tiny || echo "")
TEXT=${DEMO_TEXT:-"你好，世界！这是一个演示。"}

if [ ! -f "$OUT/src/voice/G_0.pth" ]; then
  tts-export demo-voice --out "$OUT/src" $SIZE
fi
tts-export onnx --checkpoint "$OUT/src/voice/G_0.pth" --out "$OUT/voice/demo" --name demo \
  --bert ZH="$OUT/src/bert/ZH" --bert EN="$OUT/src/bert/EN" --bert JP="$OUT/src/bert/JP"
tts-export verify "$OUT/voice/demo" --phones 3 --phones 60
tts-export repository --voice "$OUT/voice/demo" --out "$OUT/repository"

read -r HTTP GRPC METRICS < <(python -c "
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(('127.0.0.1', 0))
print(*[s.getsockname()[1] for s in socks])")
tts serve --repository "$OUT/repository" --http-port "$HTTP" --grpc-port "$GRPC" \
  --metrics-port "$METRICS" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  if curl -sf "http://127.0.0.1:$HTTP/v2/health/ready" >/dev/null; then break; fi
  kill -0 $SERVER 2>/dev/null || { echo "tritonserver exited" >&2; exit 1; }
  sleep 1
done
tts voices --url "127.0.0.1:$GRPC"
tts say "$TEXT" --voice demo --url "127.0.0.1:$GRPC" --seed 1 -o "$OUT/hello.wav"
echo "demo done: $OUT/hello.wav (random weights: noise, not speech)"
