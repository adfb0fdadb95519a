"""Session layer: one persistent speech stream per conversation."""
