"""Authorization: the one place that decides whether an actor may perform an action."""
