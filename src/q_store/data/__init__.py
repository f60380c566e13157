"""Data sets and loaders."""

from q_store.data.loaders import DataBatch, DataLoader

__all__ = ["DataBatch", "DataLoader"]
