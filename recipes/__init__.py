"""Recipes: the Hydra config tree, the pipeline runner and the helpers every stage shares."""
