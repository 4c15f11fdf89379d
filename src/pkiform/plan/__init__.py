"""Deciding what apply must do: a pure function of the spec, the facts on disk and the clock."""
