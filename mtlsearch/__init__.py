"""mtlsearch: task-grouping and hyperparameter search for medical multitask learning."""

__version__ = "0.1.0"
