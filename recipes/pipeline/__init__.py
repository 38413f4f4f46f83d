"""The runner side of `recipes/`: the typed schema and its composer, the stage registry, the runner with its
manifest and preflight, Ray job submission, and the command lines (`rlcs`, `python -m recipes.pipeline`).

Nothing on the ground floor of `recipes/` (stage.py, hub.py, atomic.py, ablation.py, ray_launch.py, the data
and ms-swift helpers, tiny_world/) imports from here; tests/test_import_direction.py checks it.
"""
