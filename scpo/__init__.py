"""scpo: Steerable Cultural Preference Optimization of reward models (Oh et al., 2026).

The notebooks in `notebooks/` orchestrate; this package computes (the method: docs/method.md).
- Data: `dataset` (the registry of datasets, one module each), `data` (PRISM pairs and splits), `goqa`
  (GlobalOpinionQA), `embedded` (the offline simulated PRISM; `slider`, its
  1-100 scores), `embedded_rm` (its tiny global RM and tokenizer), `planted` (what a simulated world
  planted, per country), `fetch` (local snapshots, MiniLM).
- Models: `models` (loading any reward model), `model_source` (the model-source stage: where a model setting
  points and its fingerprint, without torch), `scoring` (one scoring path).
- Method: `selection` (filter, weights, arms), `loss` (the weighted Bradley-Terry loss), `trainer` (the Trainer
  subclass), `train` (one arm's run, `RunResult`; `pool` starts its workers' fork server early), `phases` (where a
  run's time goes), `retrain` and `tradeoff` (which pairs the analyses retrain on), `regimes` (the regime map:
  the method over the simulation's knobs).
- Results: `artifacts` (the files stages hand each other), `evaluation` (accuracy, bootstrap, bias matrix), `paired`
  (differences between arms on the same pairs), `results` (every model of a country on every test set), `analysis` (data efficiency, shuffles), `tables`,
  `readings` (the gallery's sentences), `gallery`, `plotting`.
- Plumbing: `config` (the params sections), `strict` (reading them strictly), `config_checks` (the checks across
  sections), `errors`, `io`, `paths`, `profile`, `notebooks`, `threads`.
- Measuring: `bench` (speed and memory side by side; its params section: `bench_config`), `memory` (the memory plan),
  `run_profile` (one fine-tune and one grid point, phase by phase), `scaling` (cost against data size), `timings`
  (each stage's wall time).
"""

import os as _os

# Byte-identical results whatever else the machine runs: MKL (torch's BLAS on x86) and OpenMP may otherwise
# choose a thread count per call at run time ("dynamic" threading), and a different split of a reduction
# changes its last bits. Set before torch starts; `scpo.threads.pin_threads` fixes the count itself.
for _name in ("MKL_DYNAMIC", "OMP_DYNAMIC"):
    _os.environ.setdefault(_name, "FALSE")
