"""The benchmarks (`python -m tts_benchmarks.<name>`): what users run, measured on this machine.

`run` (latency, RTF, throughput of every way to run a voice: PyTorch, the graphs in-process,
Triton), `levers` (what each speed lever is worth), `first_audio` and `windows` (streaming),
`memory` (per model, under new sentence lengths), `isa` (the `auto` path per instruction set),
`perf_analyzer` (input files) and `perf_analyzer_run` (Triton's perf_analyzer, fetched from the
registries by `perf_analyzer_binary`, beside the harness; `perf_analyzer_results` reads its output);
`workload` (texts, seeds, voices), `triton_load`, `stats` and `report`
(results.json, tables, plots) serve them all.

The one layer that may import every other (tests/layering.py): it measures them all.
"""
