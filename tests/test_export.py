"""unetkit export: ONNX files and bioimage.io packages that reproduce unetkit's own outputs, and refusals."""
import io
import json
import zipfile

import numpy as np
import pytest

from unetkit.checkpoint import save_model
from unetkit.cli import main
from unetkit.config import ExportConfig, RunConfig
from unetkit.errors import UnetkitError
from unetkit.exporting import export_model
from unetkit.exporting.bioimageio_package import package_halo
from unetkit.io import write_image


def tiny_model(path, **data):
    """An untrained 4-filter, depth-2 U-Net saved as a unetkit model (export needs weights, not accuracy), its
    weights seeded so every run checks the same network."""
    import keras
    from unetkit.network import architecture, model_meta
    keras.utils.set_random_seed(0)
    cfg = RunConfig()
    cfg.model.base_filters, cfg.model.depth = 4, 2
    for k, v in data.items():
        setattr(cfg.data, k, v)
    channels = data.get("channels", 1)
    meta = model_meta(cfg, channels)
    arch, options = architecture(cfg)
    model = arch.build(**{**options, "input_channels": channels, "num_classes": meta["num_classes"]})
    return save_model(model, path, meta, with_optimizer=False)


def boundary_model(path):
    return tiny_model(path, mask_mode="instances", target="boundary", num_classes=3, invert="auto")


def test_onnx_matches_keras_at_a_new_size_and_carries_the_metadata(tmp_path):
    import onnx
    import onnxruntime as ort
    from unetkit.checkpoint import load_model
    m = boundary_model(tmp_path / "m.keras")
    out = export_model(m, tmp_path / "m.onnx", ExportConfig(format="onnx"))
    model, meta = load_model(m)
    x = np.random.default_rng(3).random((2, 44, 36, 1), dtype=np.float32)   # not the export's check size
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert got.shape == (2, 44, 36, 3)
    assert np.max(np.abs(got - np.asarray(model.predict_on_batch(x)))) < 1e-4
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["unetkit"]) == meta


def test_package_validates_and_reproduces_unetkit_on_a_bright_background_image(tmp_path):
    """A dark-object package of a model that inverts per image: bioimage.io's runner, given a brightfield-like
    image, must compute what unetkit's own preparation (which inverts this image) and network compute."""
    from bioimageio.core import create_prediction_pipeline, load_description, predict
    from bioimageio.spec.model import v0_5
    from bioimageio.spec.model.v0_5 import AxisId
    from unetkit.data.synthetic import random_cells
    from unetkit.predictor import Predictor
    m = boundary_model(tmp_path / "m.keras")
    pkg = export_model(m, tmp_path / "m.zip", ExportConfig(polarity="dark", crop=64))
    descr = load_description(pkg)
    assert isinstance(descr, v0_5.ModelDescr), descr
    assert [s.id for s in descr.inputs[0].preprocessing] == ["ensure_dtype", "scale_range", "scale_linear",
                                                             "ensure_dtype"]
    assert [str(c) for c in descr.outputs[0].axes[-1].channel_names] == ["background", "interior", "boundary"]
    img, _ = random_cells(size=96, n=8, rng=np.random.default_rng(5))
    img = (255 - img).astype(np.float32)                                   # dark nuclei on a bright background
    p = Predictor.load(m)
    x = p.prepare(img)
    assert x[0, 0, 0] < 0.5                                                # unetkit inverted it
    want = np.asarray(p.model.predict_on_batch(x[None]))[0]
    whole = {"raw": {AxisId("batch"): 1, AxisId("y"): 96, AxisId("x"): 96}}   # one tile: the runner's own tiles
    # move boundary pixels a little (benchmarks 27), which is not the package's doing; padding the 96 px image by the
    # halo before it normalises shifts its percentiles by a hair (up to 5e-4 here)
    sample = predict(model=create_prediction_pipeline(descr, weight_format="onnx"), inputs=img[None, :, :, None],
                     input_block_shape=whole)
    got = sample.members["probabilities"].data.transpose("batch", "y", "x", "channel").values[0]
    h = package_halo(p.meta)   # the runner pads the borders its own way: compare beyond the halo
    assert got.shape == want.shape and np.max(np.abs(got - want)[h:-h, h:-h]) < 1e-3


def test_a_model_scaled_by_its_type_gets_the_types_gain_from_a_16_bit_sample(tmp_path):
    """The seeds' recipe divides by the type's maximum: the package must say 1/65535 for a 16-bit sample."""
    m = tiny_model(tmp_path / "seed.keras", norm="scale")
    img = (np.random.default_rng(1).random((70, 90)) * 40000).astype(np.uint16)
    sample = write_image(tmp_path / "s.tif", img)
    pkg = export_model(m, tmp_path / "seed.zip", ExportConfig(sample=str(sample)))   # refused unless reproduced
    with zipfile.ZipFile(pkg) as z:
        rdf = z.read("rdf.yaml").decode()
        x = np.load(io.BytesIO(z.read("test_input.npy")))
    assert "gain: 1.5259" in rdf and x.shape[1:3] == (68, 68) and x.max() > 255   # raw values, a centre square


def test_package_of_a_bundled_model_carries_its_card_and_citations(tmp_path):
    pkg = export_model("nuclei", tmp_path / "nuclei.zip", ExportConfig(crop=224))
    with zipfile.ZipFile(pkg) as z:
        names = set(z.namelist())
        readme = z.read("README.md").decode()
        rdf = z.read("rdf.yaml").decode()
    assert {"rdf.yaml", "nuclei.onnx", "nuclei.keras", "test_input.npy", "test_output.npy", "cover.png"} <= names
    assert "bright objects" in readme and "--polarity dark" in readme and "## Data and split" in readme
    assert "10.1038/s41592-019-0612-7" in rdf and "min_percentile: 1.0" in rdf and "max_percentile: 99.8" in rdf


def test_refusals_leave_nothing_behind(tmp_path):
    never = tiny_model(tmp_path / "never.keras", invert="never")
    with pytest.raises(UnetkitError, match="never inverts"):
        export_model(never, tmp_path / "a.zip", ExportConfig(polarity="dark", crop=64))
    with pytest.raises(UnetkitError, match="NAME.onnx"):
        export_model(never, tmp_path / "a.zip", ExportConfig(format="onnx"))
    stack = write_image(tmp_path / "stack.npy", np.zeros((5, 80, 80), np.float32))
    with pytest.raises(UnetkitError, match="stack.npy: .*axis"):
        export_model(never, tmp_path / "a.zip", ExportConfig(sample=str(stack)))
    movie = tmp_path / "movie.tif"      # a time series passes the reader: its first frame was taken in silence
    import tifffile
    tifffile.imwrite(movie, np.zeros((4, 80, 80), np.uint8), imagej=True, metadata={"axes": "TYX"})
    with pytest.raises(UnetkitError, match="movie.tif: 4 time points x 1 slice; a test image must be one 2-D plane"):
        export_model(never, tmp_path / "a.zip", ExportConfig(sample=str(movie)))
    nan = np.full((80, 80), 1.0, np.float32)
    nan[3, 3] = np.nan
    with pytest.raises(UnetkitError, match="NaN"):
        export_model(never, tmp_path / "a.zip", ExportConfig(sample=str(write_image(tmp_path / "nan.npy", nan))))
    with pytest.raises(UnetkitError, match="ONNX file holds the network alone"):
        export_model(never, tmp_path / "a.onnx", ExportConfig(format="onnx", polarity="dark"))
    with pytest.raises(UnetkitError, match=r"^--license 'MIT-ish' is not an SPDX licence id; use e.g."):
        export_model(never, tmp_path / "a.zip", ExportConfig(license="MIT-ish", crop=64))
    with pytest.raises(UnetkitError, match="unknown export format 'tflite': use bioimageio or onnx"):
        export_model(never, tmp_path / "a.tflite", ExportConfig(format="tflite"))
    with pytest.raises(UnetkitError, match="unknown polarity 'light': use auto, bright, dark"):
        export_model(never, tmp_path / "a.zip", ExportConfig(polarity="light", crop=64))
    with pytest.raises(UnetkitError, match=r"^the package's name 'ab': .*at least 5.*\(see --name, --author\)$"):
        export_model(never, tmp_path / "a.zip", ExportConfig(name="ab", crop=64))
    small = write_image(tmp_path / "small.png", np.zeros((20, 30), np.uint8))
    with pytest.raises(UnetkitError, match="small.png: 20x30 px is smaller"):
        export_model(never, tmp_path / "a.zip", ExportConfig(sample=str(small)))
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "a.onnx").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temporary files left


def test_cli_exports_refuses_an_existing_file_and_overwrites_when_asked(tmp_path, capsys):
    m = tiny_model(tmp_path / "m.keras")
    out = tmp_path / "m.onnx"
    assert main(["export", "--model", str(m), "--out", str(out), "--format", "onnx"]) == 0
    first = out.read_bytes()
    assert main(["export", "--model", str(m), "--out", str(out), "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and str(out) in err[0]
    assert out.read_bytes() == first
    assert main(["export", "--model", str(m), "--out", str(out), "--format", "onnx", "--overwrite"]) == 0
    # the suffix chooses the format when --format is not given; a given one must agree with it
    assert main(["export", "--model", str(m), "--out", str(tmp_path / "b.onnx")]) == 0
    import onnx
    assert len(onnx.load(str(tmp_path / "b.onnx")).graph.node) > 0
    assert main(["export", "--model", str(m), "--out", str(tmp_path / "c.onnx"), "--format", "bioimageio"]) == 2
    assert "a bioimageio export is a .zip file" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path / "missing.keras"), "--out", str(tmp_path / "x.onnx"),
                 "--format", "onnx"]) == 2
