"""Data: the IDX reader, the data set registry and the bundled MNIST test subset."""

from genprior.data.checks import check_image_batch
from genprior.data.idx import read_idx, write_idx
from genprior.data.registry import (
    DATASETS,
    ENV_VAR,
    FOLDER_SETS,
    TRAINING_SETS,
    Dataset,
    load_dataset,
    parse_indices,
)

__all__ = ["DATASETS", "ENV_VAR", "FOLDER_SETS", "TRAINING_SETS", "Dataset", "check_image_batch", "load_dataset", "parse_indices", "read_idx",
           "write_idx"]
