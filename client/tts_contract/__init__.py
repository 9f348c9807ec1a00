"""The wire contract that every side of bertvits2-triton imports, and nothing else.

- `tts_contract.request`: every request input's name, range, default and limit, the outputs,
  and the checks that refuse bad input with a message naming the field (`RequestError`);
- `tts_contract.manifest`: ``voice.json``, the exported voice's manifest, and the graphs' I/O
  names (the one reader and writer);
- `tts_contract.sentences`: where a text is cut into sentences;
- `tts_contract.timestamps`: the TIMESTAMPS value (sample times, joins, stream windows).

Standard library only: the thin client, the gateway, the Triton models, the exporter and the
benchmarks all import it, so it must not pull in numpy, tritonclient, torch or onnx.
"""
