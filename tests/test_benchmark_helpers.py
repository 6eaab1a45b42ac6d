"""The benchmark scripts' own bookkeeping: merging stacked-MNIST runs made in separate processes."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stacked = _load("pacgan_stacked_mnist")

SETUP = {"steps": 30, "batch_size": 8, "lr": 2e-4, "loss": "nonsaturating", "g_steps": 1, "latent_dim": 100,
         "g_channels": 32, "d_channels": 8, "train_samples": 500, "eval_samples": 260, "machine": "test", "device": "cpu"}


def _row(modes: int, kl: float) -> dict:
    return {"modes": modes, "kl": kl, "confidence": 0.5, "train_seconds": 1.0, "steps": 30}


def _run(path: Path, per_model: dict, **setup) -> Path:
    results = {name: {"per_seed": {str(s): _row(*v) for s, v in seeds.items()}} for name, seeds in per_model.items()}
    path.write_text(json.dumps({"results": results, "setup": {**SETUP, **setup}}))
    return path


def test_merge_collects_every_seed_and_recomputes_the_summary(tmp_path):
    a = _run(tmp_path / "a.json", {"DCGAN": {0: (100, 3.0)}, "PacDCGAN2": {0: (300, 2.0)}})
    b = _run(tmp_path / "b.json", {"DCGAN": {1: (200, 4.0)}, "PacDCGAN2": {1: (500, 1.0)}}, machine="another")
    merged = stacked.merge_runs([a, b], tmp_path / "merged")
    assert set(merged) == {"DCGAN", "PacDCGAN2"}
    assert set(merged["DCGAN"]["per_seed"]) == {"0", "1"}
    written = json.loads((tmp_path / "merged.json").read_text())
    s = written["results"]["PacDCGAN2"]["summary"]
    assert s["seeds"] == 2 and s["modes_mean"] == pytest.approx(400.0) and s["kl_mean"] == pytest.approx(1.5)
    assert s["modes_se"] == pytest.approx(100.0)  # sample std 141.4 / sqrt(2)
    assert "| PacDCGAN2 | 2 | 3,641 | 400.0 ± 100.0 |" in (tmp_path / "merged.md").read_text()


def test_a_setting_missing_from_an_older_run_means_its_default():
    old = {k: v for k, v in SETUP.items() if k not in ("loss", "g_steps", "device")}
    assert stacked._same_settings(old, {**SETUP, "g_lr": None, "beta2": 0.999})
    assert not stacked._same_settings(old, {**SETUP, "loss": "minimax"})


def test_merge_adds_to_an_existing_merged_file(tmp_path):
    stacked.merge_runs([_run(tmp_path / "a.json", {"DCGAN": {0: (100, 3.0)}})], tmp_path / "merged")
    merged = stacked.merge_runs([_run(tmp_path / "b.json", {"DCGAN": {1: (120, 3.2)}})], tmp_path / "merged")
    assert set(merged["DCGAN"]["per_seed"]) == {"0", "1"}


def test_merge_refuses_a_seed_twice(tmp_path):
    a = _run(tmp_path / "a.json", {"DCGAN": {0: (100, 3.0)}})
    b = _run(tmp_path / "b.json", {"DCGAN": {0: (110, 3.1)}})
    with pytest.raises(SystemExit, match="DCGAN seed 0 is in more than one"):
        stacked.merge_runs([a, b], tmp_path / "merged")
    assert not (tmp_path / "merged.json").exists()


@pytest.mark.parametrize("other", [{"d_channels": 32}, {"g_lr": 1e-4}, {"beta2": 0.99}])
def test_merge_refuses_other_settings(tmp_path, other):
    """Also when the setting is recorded in only one of the runs (the other ran before the option existed)."""
    a = _run(tmp_path / "a.json", {"DCGAN": {0: (100, 3.0)}})
    b = _run(tmp_path / "b.json", {"DCGAN": {1: (110, 3.1)}}, **other)
    with pytest.raises(SystemExit, match="other settings"):
        stacked.merge_runs([a, b], tmp_path / "merged")
    assert not (tmp_path / "merged.json").exists()


def test_packing_difference_is_pac_minus_plain_with_welch_p():
    results = {"DCGAN": {"per_seed": {"0": _row(100, 3.0), "1": _row(200, 4.0)}},
               "PacDCGAN2": {"per_seed": {"0": _row(300, 2.0), "1": _row(500, 1.0)}}}
    diff, se, p = stacked.packing_difference(results, "modes")
    assert diff == pytest.approx(250.0) and se == pytest.approx((100.0 ** 2 + 50.0 ** 2) ** 0.5)
    assert 0.0 < p < 1.0
    assert stacked.packing_difference(results, "kl")[0] == pytest.approx(-2.0)
    del results["PacDCGAN2"]["per_seed"]["1"]
    assert stacked.packing_difference(results, "modes") is None


def test_cpu_name_names_the_model_and_its_bfloat16_units(monkeypatch, tmp_path):
    import torch

    from genprior.reports import machine

    monkeypatch.setattr(machine, "Path", lambda _: tmp_path / "cpuinfo")
    (tmp_path / "cpuinfo").write_text("processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: Test CPU 9000\n"
                                      "cpu MHz\t\t: 2596.138\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: Other\n")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    machine.cpu_name.cache_clear()
    assert machine.cpu_name() == "Test CPU 9000, family 25 model 17, 2.6 GHz (AVX-512 BF16)"
    (tmp_path / "cpuinfo").write_text("model name\t: Test CPU 9000\ncpu MHz\t\t: unknown\n")  # what is missing is left out
    machine.cpu_name.cache_clear()
    assert machine.cpu_name() == "Test CPU 9000 (AVX-512 BF16)"
    monkeypatch.setattr(machine, "Path", lambda _: tmp_path / "missing")  # no /proc: platform's name, never empty
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    machine.cpu_name.cache_clear()
    assert machine.cpu_name() and "(" not in machine.cpu_name()
    machine.cpu_name.cache_clear()  # the next caller reads the real machine


def test_csgm_table_names_the_cpu_of_each_methods_seconds():
    csgm_mnist = _load("csgm_mnist")
    curves = {"CSGM-VAE": [{"m": 10}, {"m": 25}], "Lasso pixel": [{"m": 10, "cpu": "CPU B"}],
              "Lasso dct": [{"m": 10, "cpu": "CPU A"}]}
    tasks = {"denoise": {"Lasso dct": {"m": 784, "cpu": "CPU A"}, "Lasso pixel": {"m": 784}}}
    line = csgm_mnist._machines(curves, tasks)
    # a method measured on one CPU in both tables is named plainly; one whose tables differ says which is where
    assert line.strip() == ("CPU of the seconds: CPU A: Lasso dct; CPU B: Lasso pixel (CS); "
                            "not recorded: CSGM-VAE (CS), Lasso pixel (tasks).")
    assert csgm_mnist._machines({"CSGM-VAE": [{"m": 10}]}, {}) == ""  # nothing recorded yet: no line


def test_lasso_record_by_cpu_keeps_one_entry_per_cpu(tmp_path):
    lasso_speed = _load("lasso_speed")
    stem = tmp_path / "by_cpu"

    def rows(ratio):
        return [{"m": m, "sklearn_seconds": 2.0, "ours_seconds": 2.0 / ratio, "ratio": ratio, "gap_max": -1e-9}
                for m in (10, 500)]

    lasso_speed.record_by_cpu(rows(50.0), cpu="CPU A", gemm_gflops=100.0, source="abc", date="2026-01-01", stem=stem)
    lasso_speed.record_by_cpu(rows(5.0), cpu="CPU B", stem=stem)
    entries = lasso_speed.record_by_cpu(rows(8.0), cpu="CPU A", source="def", stem=stem)  # A's newer run replaces it
    assert [e["cpu"] for e in entries] == ["CPU B", "CPU A"]
    assert json.loads(stem.with_suffix(".json").read_text()) == entries
    kept = {k: v for k, v in rows(8.0)[0].items() if k != "gap_max"}  # the per-image gaps stay in speed.json
    assert entries[1]["source"] == "def" and entries[1]["rows"][0] == kept
    md = stem.with_suffix(".md").read_text()
    assert "| CPU A | " in md and "| 8.0x | 8.0x |" in md and "50.0x" not in md
    assert "| - |" in md  # no ratio_exact measured: a dash, not a made-up figure
    worse = [dict(row, ours_not_lower=3) for row in rows(8.0)]  # images where ours ended above scikit-learn's
    lasso_speed.record_by_cpu(worse, cpu="CPU A", stem=stem)
    assert "| 8.0x* | 8.0x* |" in stem.with_suffix(".md").read_text()
