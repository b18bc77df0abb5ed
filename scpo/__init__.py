"""scpo: Steerable Cultural Preference Optimization of reward models (Oh et al., 2026).

The notebooks in `notebooks/` orchestrate; this package computes. Data: `data` (PRISM pairs and splits),
`goqa` (GlobalOpinionQA), `embedded` (the offline simulated PRISM and tiny RM), `fetch` (local snapshots,
the MiniLM encoder). Models: `models` (loading any reward model, the model-source stage), `scoring` (one
encoding and scoring path). Method: `selection` (filter, weights, arms), `loss` and `trainer` (weighted
Bradley-Terry fine-tuning), `train` (one arm's run). Analysis: `evaluation` (accuracy, bootstrap, bias
matrix), `analysis`, `tradeoff` (the tau x beta grid), `gallery`, `plotting`. Plumbing: `config`, `io`,
`paths`, `profile`, `notebooks`, `timings`. Measuring: `bench` (speed and memory side by side), `memory`
(the memory plan).
"""

import os as _os

# Byte-identical results whatever else the machine runs: MKL (torch's BLAS on x86) and OpenMP may otherwise
# choose a thread count per call at run time ("dynamic" threading), and a different split of a reduction
# changes its last bits. Set before torch starts; `scpo.threads.pin_threads` fixes the count itself.
for _name in ("MKL_DYNAMIC", "OMP_DYNAMIC"):
    _os.environ.setdefault(_name, "FALSE")
