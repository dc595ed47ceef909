"""The one error the training pipeline raises for bad input: a message for the user."""

from __future__ import annotations


class TrainingError(Exception):
    """Bad input or an environment problem, said so that the user knows what to do."""
