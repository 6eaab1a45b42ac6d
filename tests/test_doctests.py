"""The ``>>>`` examples in the docstrings of genprior's main public functions run, and print what they say (they
are also what the API reference, ``python docs/build_api.py``, shows)."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

# modules whose docstrings carry examples; each example is quick (bundled data or seeded tensors, < 1 s)
MODULES = [
    "genprior.operators.linear",  # Gaussian, Inpaint
    "genprior.zoo",  # load
    "genprior.data.registry",  # load_dataset
    "genprior.io",  # load_tensors / save_tensors
    "genprior.evaluate.metrics",  # mse_per_pixel, psnr
    "genprior.evaluate.recovery",  # run_method
    "genprior.solvers.latent",  # csgm
    "genprior.solvers.lasso.solve",  # lasso
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    threads = torch.get_num_threads()
    try:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False,
                                 report=True)
    finally:
        torch.set_num_threads(threads)
    assert result.attempted > 0, f"{name} has no >>> examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see above)"


def test_examples_in_enough_public_functions():
    """At least 8 public functions or classes carry an example."""
    finder = doctest.DocTestFinder()
    with_examples = {t.name for name in MODULES for t in finder.find(importlib.import_module(name)) if t.examples}
    assert len(with_examples) >= 8, sorted(with_examples)
