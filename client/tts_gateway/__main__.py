"""``python -m tts_gateway``: the same command and options as ``tts-gateway``."""

from tts_gateway.cli import main

main()
