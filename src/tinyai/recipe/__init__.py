"""Recipes: a whole compression job in one YAML file, and the runner that owns its loops."""
