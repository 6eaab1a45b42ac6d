"""The benchmark scripts' own bookkeeping: their shared options and provenance (benchmarks/common.py), the
number formats of their tables, and merging stacked-MNIST runs made in separate processes."""

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from genprior.reports import markdown_table
from genprior.reports.tables import format_mean_ci, format_value

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their siblings (common, csgm_mnist, ...) as when run there


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stacked = _load("pacgan_stacked_mnist")
common = _load("common")

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
    curves = {"csgm": [{"m": 10}, {"m": 25}], "lasso-pixel box=False": [{"m": 10, "cpu": "CPU B"}],
              "lasso-dct box=False": [{"m": 10, "cpu": "CPU A"}]}
    tasks = {"denoise": {"lasso-dct box=False": {"m": 784, "cpu": "CPU A"}, "lasso-pixel box=False": {"m": 784}}}
    line = csgm_mnist._machines(curves, tasks)
    # a method measured on one CPU in both tables is named plainly; one whose tables differ says which is where
    assert line.strip() == ("CPU of the seconds: CPU A: lasso-dct box=False; CPU B: lasso-pixel box=False (CS); "
                            "not recorded: csgm (CS), lasso-pixel box=False (tasks).")
    assert csgm_mnist._machines({"csgm": [{"m": 10}]}, {}) == ""  # nothing recorded yet: no line


def test_csgm_rows_are_registry_names_and_grids_of_some_rows_get_their_own_files():
    csgm_mnist = _load("csgm_mnist")
    assert list(csgm_mnist.ROWS) == ["csgm", "csgm lam=0.1", "csgm-fast", "lasso-pixel box=False", "lasso-dct box=False",
                                     "lasso-wavelet box=False", "lasso-pixel alpha=auto", "hybrid model=mnist-vae",
                                     "hybrid", "dip"]
    assert csgm_mnist.ROWS["hybrid model=mnist-vae"] == ("hybrid", {"model": "mnist-vae"})
    # another prior, or another csgm schedule, is named in the rows rather than hidden under the default's name
    other = csgm_mnist.table_rows("fashion-mnist-vae", restarts=3)
    assert "csgm restarts=3 model=fashion-mnist-vae" in other and "hybrid" in other
    stem = csgm_mnist._grid_stem(Path("r/x"), {"hybrid model=mnist-vae": None, "csgm lam=0.1": None}, csgm_mnist.ROWS)
    assert stem == "r/x-hybrid-model-mnist-vae-csgm-lam-0-1"
    assert csgm_mnist._grid_stem(Path("r/x"), dict.fromkeys(csgm_mnist.ROWS), csgm_mnist.ROWS) == "r/x"


@pytest.mark.parametrize("stem", ["csgm_mnist", "csgm_fashion", "one_bit_mnist", "phase_mnist", "prior_comparison",
                                  "time_to_quality"])
def test_recovery_results_name_their_rows_by_registered_methods(stem):
    from genprior.evaluate.recovery import METHODS

    data = json.loads((BENCHMARKS / "results" / f"{stem}.json").read_text())
    if "rows" in data:  # a row per setting: the method in its own column, or in the names of the timed columns
        names = ({r["method"] for r in data["rows"] if "method" in r}
                 or {k.removeprefix("mse_") for r in data["rows"] for k in r if k.startswith("mse_")})
    else:
        curves = data.get("curves") or {k: v for k, v in data.items() if isinstance(v, list)}
        names = {row.split()[0] for row in curves} | {row.split()[0] for t in data.get("tasks", {}).values() for row in t}
        names |= {pt["method"] for pts in curves.values() for pt in pts}
    assert names and names <= set(METHODS), names - set(METHODS)


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
    written = json.loads(stem.with_suffix(".json").read_text())
    assert written["results"] == entries and "command" in written["provenance"]  # a list is wrapped beside its provenance
    kept = {k: v for k, v in rows(8.0)[0].items() if k != "gap_max"}  # the per-image gaps stay in speed.json
    assert entries[1]["source"] == "def" and entries[1]["rows"][0] == kept
    assert common.results_of(json.loads(stem.with_suffix(".json").read_text())) == entries
    md = stem.with_suffix(".md").read_text()
    assert "| CPU A | " in md and "| 8.0x | 8.0x |" in md and "50.0x" not in md
    assert "| - |" in md  # no ratio_exact measured: a dash, not a made-up figure
    worse = [dict(row, ours_not_lower=3) for row in rows(8.0)]  # images where ours ended above scikit-learn's
    lasso_speed.record_by_cpu(worse, cpu="CPU A", stem=stem)
    assert "| 8.0x* | 8.0x* |" in stem.with_suffix(".md").read_text()


def test_record_by_cpu_reads_a_file_written_before_provenance(tmp_path):
    lasso_speed = _load("lasso_speed")
    stem = tmp_path / "by_cpu"
    old = {"cpu": "CPU A", "date": "2026-01-01", "source": "speed.json at 1f82553", "rows": [{"m": 10, "ratio": 3.0,
           "sklearn_seconds": 3.0, "ours_seconds": 1.0}]}
    stem.with_suffix(".json").write_text(json.dumps([old]))  # the bare list of the earlier format
    entries = lasso_speed.record_by_cpu([{"m": 10, "sklearn_seconds": 2.0, "ours_seconds": 1.0, "ratio": 2.0}],
                                        cpu="CPU B", stem=stem)
    assert entries[0] == old and entries[1]["cpu"] == "CPU B"
    assert "speed.json at 1f82553" in stem.with_suffix(".md").read_text()  # a note, not a commit: shown as it is


def test_format_value_switches_to_scientific_notation_below_1e_3():
    assert format_value(0.0123) == "0.0123"
    assert format_value(1.2e-05) == "1.20e-05"
    assert format_value(-4.5e-4) == "-4.50e-04"
    assert format_value(0.0) == "0.0000" and format_value(float("nan")) == "nan"
    assert format_value(0.00751, 5) == "0.00751" and format_value(2.5e-4, 5) == "2.50e-04"
    # a value below 1e-3 never prints as zero, whatever the digits
    for v in (9.99e-4, 3e-5, 1e-9):
        assert float(format_value(v)) == pytest.approx(v, rel=0.01)
    # markdown_table's cells follow the same rule (and keep two decimals from 10 on)
    assert markdown_table([{"a": 3e-5, "b": 0.0123, "c": 12.345}]).splitlines()[-1] == "| 3.00e-05 | 0.0123 | 12.35 |"


def test_format_mean_ci_shows_both_numbers_at_every_scale():
    assert format_mean_ci(0.0075, 0.0004) == "0.0075 ± 0.0004"
    assert format_mean_ci(3e-5, 2e-6) == "3.00e-05 ± 2.00e-06"  # today's "0.0000 ± 0.0000" of the hybrid at m >= 400
    assert format_mean_ci(0.0062, 4e-5) == "0.0062 ± 4.00e-05"  # a half-width that 4 decimals would round to 0
    assert format_mean_ci(0.0828, 0.0046, 5) == "0.08280 ± 0.00460"


@pytest.mark.skipif(not (BENCHMARKS.parent / ".git").exists(), reason="not a git checkout (an unpacked sdist)")
def test_provenance_names_the_commit_and_the_command(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--m", "10", "--out", "a b"])
    record = common.provenance()
    assert re.fullmatch(r"[0-9a-f]{40}(\+changes)?", record["commit"])  # the tests run in a git checkout
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=BENCHMARKS, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert record["commit"].startswith(head)
    assert record["command"] == "python benchmarks/x.py --m 10 --out 'a b'"  # quoted as a shell reads it back
    assert record["cpu"] and record["torch"] and record["threads"] >= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["date"])
    assert common.short_commit(record["commit"]) == head[:7] + record["commit"][40:]
    assert common.short_commit("") == "unknown"


def test_write_results_records_provenance_and_keeps_earlier_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py"])
    stem = tmp_path / "r"
    first = common.write_results(stem, {"rows": [1, 2], "provenance": {"stale": True}}, "# T\n")
    data = json.loads(stem.with_suffix(".json").read_text())
    assert data["rows"] == [1, 2] and data["provenance"] == first and "stale" not in first
    md = stem.with_suffix(".md").read_text()
    assert md.startswith("# T\n\n") and md.splitlines()[-1].startswith("Command: `python benchmarks/x.py` at commit ")
    # a run that adds to these results keeps their provenance under "earlier", flattened
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--more"])
    second = common.write_results(stem, {"rows": [3]}, "# T\n", earlier=common.earlier_runs(data, None, {"x": 1}))
    assert [r["command"] for r in second["earlier"]] == ["python benchmarks/x.py"]
    third = common.write_results(stem, {"rows": [4]}, "# T\n", earlier=common.earlier_runs({"provenance": second}))
    assert [r["command"] for r in third["earlier"]] == ["python benchmarks/x.py --more", "python benchmarks/x.py"]
    assert "Added to the results of: `python benchmarks/x.py --more`" in stem.with_suffix(".md").read_text()
    # --render-only rewrites the Markdown from the JSON, the JSON untouched
    before = stem.with_suffix(".json").read_text()
    common.rerender(stem, lambda d: f"# rows {d['rows']}\n")
    assert stem.with_suffix(".json").read_text() == before
    assert stem.with_suffix(".md").read_text().startswith("# rows [4]\n\nCommand: `python benchmarks/x.py --more`")


def test_a_list_of_results_is_wrapped_beside_its_provenance(tmp_path):
    common.write_results(tmp_path / "l", [{"a": 1}], "")
    data = json.loads((tmp_path / "l.json").read_text())
    assert set(data) == {"results", "provenance"} and common.results_of(data) == [{"a": 1}]
    assert common.results_of([{"a": 1}]) == [{"a": 1}]  # the format before provenance
    assert common.results_of({"results": {"DCGAN": {}}, "setup": {}}) == {"results": {"DCGAN": {}}, "setup": {}}


def test_parser_declares_the_common_options_with_the_scripts_defaults():
    p = common.parser("Doc.", n_images=300, m=[10, 25], data_dir=True, out="results/x", seed=0, render_only=True)
    a = p.parse_args([])
    assert (a.n_images, a.m, a.data_dir, a.out, a.seed, a.render_only) == (300, [10, 25], None, "results/x", 0, False)
    assert p.parse_args(["--m", "5", "7"]).m == [5, 7]
    assert common.parser("Doc.", m=100).parse_args(["--m", "50"]).m == 50  # one m where the default is one
    assert not hasattr(common.parser("Doc.").parse_args([]), "n_images")  # only what the script declares
    with pytest.raises(SystemExit):
        common.parser("Doc.", device="auto").parse_args(["--device", "gpu"])


def test_n_images_beyond_the_protocol_reaching_held_out_images_is_refused(capsys):
    p = argparse.ArgumentParser(prog="x")
    common.refuse_held_out(p, 300)  # the protocol's 300 images: fine
    with pytest.raises(SystemExit) as e:
        common.refuse_held_out(p, 301)
    assert e.value.code == 2 and "test images 300..300, where the tuned Lasso's alpha is chosen" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["csgm_mnist", "box_lasso", "csgm_fashion"])
def test_scripts_that_tune_on_held_out_images_refuse_more_images(script):
    run = subprocess.run([sys.executable, str(BENCHMARKS / f"{script}.py"), "--n-images", "400", "--out", "/nonexistent/x"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 2 and "--n-images 400 would evaluate on test images 300..399" in run.stderr


def test_curve_table_leaves_a_missing_m_empty():
    table = common.curve_table({"A": [{"m": 10, "v": 0.5}], "B": [{"m": 10, "v": 1e-5}, {"m": 20, "v": 0.25}]},
                               [10, 20], lambda pt: pt["v"])
    assert table.splitlines()[2:] == ["| A | 0.5000 |  |", "| B | 1.00e-05 | 0.2500 |"]
