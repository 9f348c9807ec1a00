"""The exporter (`tts-export`, also `python -m tts_export`): a trained voice in PyTorch to the
graphs and the Triton model repository that serve it.

- `voice`: a whole voice (`bert` per language, `acoustic` encoder and decoder with its flow and
  vocoder halves, `emotion` models, tokenizers, ``voice.json`` through `metadata`);
- `checks` and `verify`: every graph against the PyTorch reference it came from;
- `quantize` (int8 decoder), `tensorrt` (engines);
- `repository` with `triton_config`: the Triton models of a voice, written from the Python
  models' sources (`tts_model_repository`) and the contract.

The top of the house: imports the model (`vits2`, torch), the serving core, the runtime and the
Triton models' sources; only the benchmarks import it (the gateway runs it as a process).
"""
