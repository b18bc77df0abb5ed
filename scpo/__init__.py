"""scpo: Steerable Cultural Preference Optimization of reward models (Oh et al., 2026).

The notebooks in `notebooks/` orchestrate; this package computes: `data` (PRISM pairs and splits),
`embedded` (the offline simulated PRISM and tiny RM), `scoring` (one scoring path for any RM),
`selection` (filter, weights, arms), `loss` and `trainer` (weighted Bradley-Terry fine-tuning),
`train` (one arm's run), `evaluation` (accuracy, bootstrap, bias matrix), `plotting`, `io`, `config`.
"""
