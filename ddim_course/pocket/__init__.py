"""The pocket model: drawn scenes, training, evaluation, and the rule-based reader of its images."""

from .scenes import VOCABULARY

__all__ = ["VOCABULARY"]
