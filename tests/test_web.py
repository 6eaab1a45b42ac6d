"""The web app's API (``genprior serve``) through Starlette's test client: a recovery job end to end, its download,
the limits (upload size, image type and dimensions), unknown names and paths refused, the bounded queue, cancelling,
and failures that leave the server up. Skipped without the web extra unless GENPRIOR_REQUIRE_BROWSER is set (CI)."""

from __future__ import annotations

import io
import json
import os
import threading
import time
import zipfile

import pytest

try:
    from starlette.testclient import TestClient

    from genprior.web import jobs as web_jobs
    from genprior.web.app import create_app
except ImportError as e:  # the web extra (or httpx for the test client) is not installed
    if os.environ.get("GENPRIOR_REQUIRE_BROWSER"):
        raise
    pytest.skip(f"the web extra is not installed ({e})", allow_module_level=True)

from genprior.web.images import png_bytes

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def sample_png() -> bytes:
    from genprior.data import load_dataset

    return png_bytes(load_dataset("mnist-bundled", "test").images[0])


@pytest.fixture
def client():
    app = create_app(max_upload_bytes=200_000, max_side=512, max_pixels=512 * 512, workers=1, queue_size=2)
    with TestClient(app, base_url=BASE) as c:
        c.folder = app.state.folder
        yield c
    assert not app.state.folder.exists()  # the temporary folder goes at shutdown


def form(**fields) -> dict:
    base = {"model": "mnist-vae", "methods": ["adjoint"], "task": "inpaint", "keep": "0.5"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def submit(client, image: bytes, **fields):
    return client.post("/api/jobs", files={"image": ("x.png", image, "image/png")}, data=form(**fields))


def wait(client, job_id: str, timeout: float = 60.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {status}")


def test_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    for path in ("/", "/app.js", "/style.css"):
        text = client.get(path).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text  # nothing from elsewhere
    options = client.get("/api/options").json()
    names = [m["name"] for m in options["models"]]
    assert "mnist-vae" in names and "mnist-classifier" not in names and "mnist-cgan" not in names
    assert {"csgm-fast", "hybrid", "dip", "lasso-pixel"} <= {m["name"] for m in options["methods"]}
    assert "one-bit-csgm" not in {m["name"] for m in options["methods"]}  # sign measurements: not offered
    assert client.get("/api/samples/0").content.startswith(b"\x89PNG")
    assert client.get("/api/samples/100000").status_code == 404
    assert client.get("/api/samples/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding: another Host


def test_inpainting_job_end_to_end(client, sample_png):
    r = submit(client, sample_png, methods=["csgm-fast", "lasso-pixel"], restarts="8")
    assert r.status_code == 202, r.text
    status = wait(client, r.json()["id"])
    assert status["state"] == "done" and status["done"] == status["total"] == 2, status
    assert status["operator"]["m"] == 392 and status["operator"]["n"] == 784
    rows = {row["method"]: row for row in status["results"]}
    assert rows["csgm-fast"]["options"]["restarts"] == 8
    # the prior fills the missing half: far below the zero-filled measurement's error
    assert rows["csgm-fast"]["mse_per_pixel"] < 0.5 * status["measured"]["mse_per_pixel"]
    for row in rows.values():
        assert row["png"].startswith("data:image/png;base64,") and row["seconds"] >= 0
    archive = client.get(status["download"])
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(archive.content))
    assert {"truth.png", "measured.png", "csgm-fast.png", "lasso-pixel.png", "tensors.safetensors",
            "results.json"} <= set(z.namelist())
    from safetensors.torch import load

    tensors = load(z.read("tensors.safetensors"))
    assert tensors["truth"].shape == (1, 1, 28, 28) and tensors["y"].shape == (1, 392)
    err = float(((tensors["csgm-fast"] - tensors["truth"]) ** 2).mean())
    assert err == pytest.approx(rows["csgm-fast"]["mse_per_pixel"], rel=1e-5)
    assert json.loads(z.read("results.json"))["results"][0]["method"] == "csgm-fast"
    assert [p.parent for p in client.folder.iterdir()] == [client.folder]  # the only file written, in its folder


def test_drawn_mask_and_other_operators(client, sample_png):
    from PIL import Image

    mask = Image.new("L", (280, 280), 0)
    mask.paste(255, (0, 0, 140, 280))  # the left half painted: missing
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    r = client.post("/api/jobs", data=form(keep=None),
                    files={"image": ("x.png", sample_png, "image/png"), "mask": ("m.png", buf.getvalue(), "image/png")})
    status = wait(client, r.json()["id"])
    assert status["state"] == "done" and status["operator"]["m"] == 28 * 14
    for fields, m in (({"task": "cs", "keep": None, "m": "50"}, 50), ({"task": "superres", "keep": None, "factor": "4"}, 49),
                      ({"task": "denoise", "keep": None, "noise": "entry", "noise_std": "0.2"}, 784)):
        status = wait(client, submit(client, sample_png, **fields).json()["id"])
        assert status["state"] == "done" and status["operator"]["m"] == m, status["error"]
    assert status["results"][0]["mse_per_pixel"] == pytest.approx(status["measured"]["mse_per_pixel"], rel=1e-5)


def test_uploads_are_limited_and_typed(client, sample_png):
    from PIL import Image

    big = b"\x89PNG\r\n\x1a\n" + os.urandom(300_000)
    for path in ("/api/images", "/api/jobs"):
        r = client.post(path, files={"image": ("big.png", big, "image/png")}, data=form() if path == "/api/jobs" else {})
        assert r.status_code == 413 and "limit" in r.json()["error"]
        r = client.post(path, files={"image": ("notes.txt", b"hello, not a picture", "text/plain")},
                        data=form() if path == "/api/jobs" else {})
        assert r.status_code == 415 and "not a PNG or JPEG" in r.json()["error"]
    huge = big + os.urandom(1_000_000)  # beyond the whole form's limit: refused by its Content-Length
    r = client.post("/api/jobs", files={"image": ("huge.png", huge, "image/png")}, data=form())
    assert r.status_code == 413 and "limit of 195 KB" in r.json()["error"]
    chunked = client.post("/api/images", content=iter([b"x" * 100_000] * 10),  # no Content-Length: counted as read
                          headers={"content-type": "multipart/form-data; boundary=b"})
    assert "content-length" not in chunked.request.headers and chunked.status_code == 413
    gif = io.BytesIO()
    Image.new("L", (28, 28)).save(gif, format="GIF")
    assert client.post("/api/images", files={"image": ("x.png", gif.getvalue(), "image/png")}).status_code == 415
    wide = io.BytesIO()
    Image.new("L", (4000, 8)).save(wide, format="PNG")  # a few hundred bytes, but a side over the cap
    r = client.post("/api/images", files={"image": ("wide.png", wide.getvalue(), "image/png")})
    assert r.status_code == 400 and "4000x8 pixels" in r.json()["error"]
    r = client.post("/api/images", files={"image": ("bad.png", sample_png[:40], "image/png")})
    assert r.status_code == 400 and "cannot be decoded" in r.json()["error"]
    r = client.post("/api/images", files={"image": ("ok.png", sample_png, "image/png")})
    assert r.json() == {"channels": 1, "height": 28, "width": 28}
    assert client.post("/api/jobs", json={"model": "mnist-vae"}).status_code == 400  # not a multipart form
    r = submit(client, sample_png, model=["mnist-vae", "mnist-dcgan"])
    assert r.status_code == 400 and "'model' is given twice" in r.json()["error"]
    r = client.post("/api/images", content=b"--b\r\nnonsense", headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 400 and "\n" not in r.json()["error"]
    assert client.get("/api/options").status_code == 200  # still up


@pytest.mark.parametrize(("fields", "message"), [
    ({"model": "no-such-model"}, "unknown model 'no-such-model'"),
    ({"model": "../zoo_files/mnist-vae"}, "unknown model"),
    ({"model": "/etc/passwd"}, "unknown model"),
    ({"model": "mnist-classifier"}, "not a generator"),
    ({"methods": ["biht"]}, "unknown method 'biht'"),
    ({"methods": []}, "at least one method"),
    ({"task": "phase"}, "unknown task 'phase'"),
    ({"path": "/etc/passwd"}, "unknown form field 'path'"),
    ({"m": "10"}, "m is a setting of task cs"),
    ({"steps": "10"}, "steps is an option of"),
    ({"methods": ["dip"], "steps": "1000000"}, "steps must be an integer >= 1 and <= 1000"),
    ({"keep": "nan"}, "keep must be a number > 0"),
    ({"model": "mnist-vae-ensemble", "methods": ["csgm-fast"]}, "only hybrid uses one"),
    ({"task": "superres", "keep": None, "factor": "5"}, "factor must be a positive integer dividing"),
    ({"task": "cs", "keep": None}, "task cs needs m"),
])
def test_bad_fields_are_refused_with_a_message(client, sample_png, fields, message):
    r = submit(client, sample_png, **fields)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert "\n" not in r.json()["error"]


def test_queue_is_bounded_and_jobs_cancel(client, sample_png, monkeypatch):
    release = threading.Event()
    real = web_jobs.run_job

    def blocking(job, models, folder):
        release.wait(30)
        real(job, models, folder)

    monkeypatch.setattr(web_jobs, "run_job", blocking)
    ids = [submit(client, sample_png).json()["id"] for _ in range(3)]  # 1 worker + 2 waiting
    busy = submit(client, sample_png)
    assert busy.status_code == 503 and "busy" in busy.json()["error"] and busy.headers["retry-after"]
    while client.get(f"/api/jobs/{ids[0]}").json()["state"] == "queued":  # the worker takes the first one
        time.sleep(0.01)
    assert client.get(f"/api/jobs/{ids[2]}").json()["position"] == 1
    assert client.get(f"/api/jobs/{ids[0]}/download").status_code == 409  # nothing to download yet
    assert client.post(f"/api/jobs/{ids[2]}/cancel").json()["state"] == "cancelled"  # waiting: ends at once
    extra = submit(client, sample_png)  # and frees its place
    assert extra.status_code == 202
    release.set()
    assert [wait(client, i)["state"] for i in [*ids, extra.json()["id"]]] == ["done", "done", "cancelled", "done"]
    assert client.get("/api/jobs/no-such-job").status_code == 404


def test_running_job_stops_before_its_next_method(client, sample_png):
    r = submit(client, sample_png, methods=["dip", "lasso-pixel", "lasso-dct", "adjoint"], steps="300")
    job_id = r.json()["id"]
    while client.get(f"/api/jobs/{job_id}").json()["state"] == "queued":
        time.sleep(0.01)
    t0 = time.monotonic()
    client.post(f"/api/jobs/{job_id}/cancel")
    status = wait(client, job_id)
    assert status["state"] == "cancelled" and status["done"] < 4 and time.monotonic() - t0 < 30
    assert status["download"]  # what was done can still be downloaded


def test_a_cancel_stops_a_running_solver_at_its_next_step(client, sample_png):
    # one long method: without a stop inside the solver it would run to its end and the job would be "done"
    r = submit(client, sample_png, methods=["dip"], steps="1000")
    job_id = r.json()["id"]
    while not client.get(f"/api/jobs/{job_id}").json()["stage"].startswith("method"):
        time.sleep(0.01)
    time.sleep(0.2)
    t0 = time.monotonic()
    client.post(f"/api/jobs/{job_id}/cancel")
    status = wait(client, job_id)
    assert status["state"] == "cancelled" and status["done"] == 0 and status["results"] == []
    assert time.monotonic() - t0 < 20


def test_stop_when_stops_only_its_own_threads_loops():
    from genprior.progress import Cancelled, progress_bar, stop_when

    stop = threading.Event()
    seen = []
    with stop_when(stop.is_set), pytest.raises(Cancelled):
        for i in progress_bar(range(10), enabled=False):
            seen.append(i)
            if i == 3:
                stop.set()
    assert seen == [0, 1, 2, 3]
    assert list(progress_bar(range(3), enabled=False)) == [0, 1, 2]  # outside the block: no check


def test_failures_are_messages_and_the_server_stays_up(client, sample_png, monkeypatch):
    from genprior.evaluate import recovery

    real = recovery.run_method

    def flaky(name, *args, **kwargs):
        if name == "lasso-dct":
            raise RuntimeError("the solver broke\nsecond line")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(recovery, "run_method", flaky)
    status = wait(client, submit(client, sample_png, methods=["lasso-dct", "adjoint"]).json()["id"])
    assert status["state"] == "done" and status["results"][0]["error"] == "RuntimeError: the solver broke"
    assert "mse_per_pixel" in status["results"][1]

    def broken(job, models, folder):
        raise MemoryError("out of memory")

    monkeypatch.setattr(web_jobs, "run_job", broken)
    status = wait(client, submit(client, sample_png).json()["id"])
    assert status["state"] == "failed" and status["error"] == "MemoryError: out of memory"
    assert client.get("/api/options").status_code == 200


def test_serve_command(monkeypatch, capsys):
    import uvicorn

    from genprior.cli import main
    from genprior.cli import serve as serve_cli

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    assert main(["serve", "--port", "9999"]) == 0 and calls[-1]["host"] == "127.0.0.1"
    assert "warning" not in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0"]) == 0
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    monkeypatch.setattr(serve_cli, "WEB_MODULES", ("genprior_no_such_module",))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'pip install "genprior[web]"' in err
