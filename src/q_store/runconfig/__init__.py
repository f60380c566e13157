"""Run configurations: the files ``q-store train`` reads (TOML or YAML), their schema, the
data-set registry, preprocessing, and building data, model and ``TrainingConfig`` from them."""

from q_store.runconfig.datasets import DataArrays, dataset_names, load_dataset, register_dataset
from q_store.runconfig.load import RunConfig, load_document, load_run_config
from q_store.runconfig.schema import SECTIONS, render_markdown

__all__ = [
    "SECTIONS",
    "DataArrays",
    "RunConfig",
    "dataset_names",
    "load_dataset",
    "load_document",
    "load_run_config",
    "register_dataset",
    "render_markdown",
]
