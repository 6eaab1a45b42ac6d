"""The method registry's row names: what a results table calls a method run with some options and a model."""

import pytest

from genprior.errors import InvalidValueError
from genprior.evaluate.recovery import METHODS, method, row_name


def test_row_name_is_the_method_then_what_differs_from_its_defaults():
    assert row_name("csgm") == "csgm"
    assert row_name("csgm", lam=0.1, restarts=10) == "csgm lam=0.1"  # a default given explicitly is not named
    assert row_name("lasso-pixel", alpha="auto") == "lasso-pixel alpha=auto"
    assert row_name("lasso-pixel", box=False) == "lasso-pixel box=False"
    assert row_name("biht", basis="dct") == "biht basis=dct"


def test_row_name_names_a_model_other_than_the_methods_default():
    assert row_name("hybrid", model="mnist-vae") == "hybrid model=mnist-vae"  # hybrid's default is the ensemble
    assert row_name("hybrid", model=method("hybrid").model) == "hybrid"
    assert row_name("csgm", lam=0.1, model="fashion-mnist-vae") == "csgm lam=0.1 model=fashion-mnist-vae"
    with pytest.raises(InvalidValueError, match="takes no model"):
        row_name("dip", model="mnist-vae")
    with pytest.raises(InvalidValueError, match="does not take"):
        row_name("dip", alpha=0.1)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_row_name_starts_with_its_method(name):
    options = {k: v for k, v in method(name).options.items() if not isinstance(v, bool)}
    changed = {k: (v * 2 if isinstance(v, (int, float)) else v) for k, v in options.items()}
    assert row_name(name, **changed).split()[0] == name
