"""Dataset folders: scanning, validation, splits, and the synthetic demo sample."""
from .dataset import Dataset, Split, load_dataset, split_dataset

__all__ = ["Dataset", "Split", "load_dataset", "split_dataset"]
