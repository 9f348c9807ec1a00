"""The torch-free serving core: one request from text to audio, whatever runs the graphs.

`pipeline` checks a request against the contract (`tts_contract.request`) and the voice
manifest and turns its text into the encoder's padded inputs; `assemble` pads sentences and
fills the BERT slots; `noise` derives every random number from the request's seed; `path`
declares the request path (the steps and what flows between them) that the Triton ensemble,
the stream model, the in-process runner and the PyTorch reference all follow. Imports numpy
and the text frontend only: the Triton Python models import this package.
"""
