"""`python -m tts_export`: the `tts-export` command where its console script is not on PATH
(the gateway's /models/add runs it so, as a separate process)."""

from tts_export.cli import main

main()
