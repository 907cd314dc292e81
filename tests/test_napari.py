"""The napari plugin: its manifest is found through the entry point and names functions that exist; a widget
counts a layer exactly as 'unetkit count' counts the same pixels in a file; stacks keep ids unique; whole
slides are sent to the command line."""
import numpy as np
import pytest

from unetkit.data.synthetic import random_cells
from unetkit.errors import UnetkitError
from unetkit.io import read_array, write_image
from unetkit.napari.widgets import count_objects, probabilities, track_objects


def test_manifest_is_discovered_and_its_commands_import():
    import npe2
    manifest = npe2.PluginManifest.from_distribution("unetkit")    # through the napari.manifest entry point
    assert manifest.name == "unetkit"
    widgets = {w.command for w in manifest.contributions.widgets}
    assert widgets == {"unetkit.count_objects", "unetkit.probabilities", "unetkit.track_objects"}
    for command in manifest.contributions.commands:
        assert callable(npe2.manifest.utils.import_python_name(command.python_name))


@pytest.mark.parametrize("fn", [count_objects, probabilities, track_objects])
def test_the_form_napari_builds_offers_the_viewers_layers(fn):
    """napari builds each widget's form with magicgui from the annotations: the layer (image, or labels to track)
    must become napari's layer chooser and the result a layer napari adds (resolved here as napari resolves them,
    without Qt)."""
    import typing
    import napari  # noqa: F401  (registers napari's types with magicgui)
    import napari.types
    from magicgui.signature import magic_signature
    from magicgui.type_map import get_widget_class
    sig = magic_signature(fn)
    layer = next(iter(sig.parameters))
    cls, options = get_widget_class(sig.parameters[layer].default, sig.parameters[layer].annotation)
    assert cls.__name__ == "ComboBox" and options["choices"].__name__ == "get_layers"
    hints = typing.get_type_hints(fn, localns={"napari": napari}, include_extras=True)
    for name in set(sig.parameters) - {layer}:
        cls, options = get_widget_class(sig.parameters[name].default, hints[name])
        if name == "min_score":     # -1 (the model's own) must be a value the spin box can hold
            assert cls.__name__ == "FloatSpinBox" and options["min"] == -1.0 and options["max"] == 1.0
    expected = napari.types.LayerDataTuple if fn is probabilities else list[napari.types.LayerDataTuple]
    assert hints["return"] == expected      # labels (and tracks) for count, one image for probabilities
    from magicgui.type_map import type2callback
    assert [cb.__name__ for cb in type2callback(hints["return"])] == ["add_layer_data_tuples_to_viewer"]


def test_count_widget_equals_count_on_the_file_and_sits_on_the_image(tmp_path):
    import napari.layers
    from unetkit.counting import count
    # cells of ~34 px, above the model's band, so both go through count's size search and rescale; apart, so the
    # count is exact (flat touching ellipses just above the band merge 3 of 10 at 1.25x the training size: benchmarks 32)
    img, truth = random_cells(size=160, n=10, radius=(14, 22), rng=np.random.default_rng(2), touching=False)
    layer = napari.layers.Image(img, name="cells", scale=(0.5, 0.5), translate=(10, 20))
    (data, kw, kind), = count_objects(layer, model="nuclei", tta=False)
    assert kind == "labels" and kw["name"] == "cells objects" and kw["scale"] == (0.5, 0.5)
    assert kw["translate"] == (10.0, 20.0)
    write_image(tmp_path / "cells.png", img)
    from unetkit.config import PredictConfig
    rows = count("nuclei", [tmp_path / "cells.png"], tmp_path / "out", predict_cfg=PredictConfig(tta=False),
                 verbose=False)
    assert kw["metadata"]["count"] == rows[0]["count"] == data.max()
    assert abs(int(rows[0]["count"]) - int(truth.max())) <= 1
    assert np.array_equal(data, read_array(tmp_path / "out" / "cells_labels.tif"))


def test_a_stack_is_counted_plane_by_plane_with_unique_ids(monkeypatch):
    import napari.layers
    import napari.utils
    shown = []   # the planes go through napari's progress bar (its activity panel), one step each

    class Progress(napari.utils.progress):
        def update(self, n=1):
            shown.append((self.desc, n))
            return super().update(n)
    monkeypatch.setattr(napari.utils, "progress", Progress)
    a, _ = random_cells(size=96, n=5, rng=np.random.default_rng(3))
    b, _ = random_cells(size=96, n=7, rng=np.random.default_rng(4))
    (data, kw, _), = count_objects(napari.layers.Image(np.stack([a, b]), name="movie"), tta=False)
    assert shown == [("unetkit count, planes", 1)] * 2
    per_plane = kw["metadata"]["counts_per_plane"]
    assert data.shape == (2, 96, 96) and len(per_plane) == 2 and sum(per_plane) == kw["metadata"]["count"]
    ids0, ids1 = set(np.unique(data[0])) - {0}, set(np.unique(data[1])) - {0}
    assert len(ids0) == per_plane[0] and len(ids1) == per_plane[1] and not ids0 & ids1


def test_a_stack_linked_gives_an_object_one_id_through_its_planes():
    """link=track (or slices): the widget links planes as count --t track (--z slices) does; a moved copy of a
    frame keeps its objects' ids, the features give each linked id its best plane's score; a tracks layer beside
    the labels follows each id's centroid."""
    import napari.layers
    import pytest
    from scipy import ndimage
    a, _ = random_cells(size=96, n=5, rng=np.random.default_rng(3))
    moved = ndimage.shift(a, (2, 1), order=0)                    # the same cells, 2 px down and 1 right
    layer = napari.layers.Image(np.stack([a, moved, moved]), name="movie")
    (apart, kw_apart, _), = count_objects(layer, tta=False)
    (data, kw, _), (tracks, kw_tracks, kind) = count_objects(layer, tta=False, link="track")
    per_plane = kw["metadata"]["counts_per_plane"]
    assert per_plane == kw_apart["metadata"]["counts_per_plane"] and per_plane[1] == per_plane[2]
    assert len(set(np.unique(apart)) - {0}) == sum(per_plane)            # unlinked: an id per plane
    ids = [set(np.unique(p)) - {0} for p in data]
    assert ids[1] == ids[2] and len(ids[0] & ids[1]) >= per_plane[0] - 1  # linked: the same ids go on
    assert kw["metadata"]["linked_objects"] == len(set().union(*ids))
    score = dict(zip(kw["features"]["index"], kw["features"]["score"]))
    raw = dict(zip(kw_apart["features"]["index"], kw_apart["features"]["score"]))
    for k in ids[0] & ids[2]:   # a track's score: the best of its planes (the planes' ids were k, +n0, +n0+n1)
        assert score[k] >= raw[k]
    assert kind == "tracks" and len(tracks) == sum(per_plane) and set(tracks[:, 0]) == set().union(*ids)
    for k in ids[1]:            # frames 1 and 2 are the same picture: a track stands still between them
        here = tracks[(tracks[:, 0] == k) & (tracks[:, 1] >= 1)]
        assert len(here) == 2 and np.allclose(here[0, 2:], here[1, 2:])
    napari.layers.Tracks(tracks, **{k: v for k, v in kw_tracks.items() if k != "metadata"})   # napari takes it
    with pytest.raises(UnetkitError, match=r"hyper: link track follows objects along one stack axis; this layer "
                                           r"has 2 \(2 x 2 planes\)"):
        count_objects(napari.layers.Image(np.stack([np.stack([a, a])] * 2), name="hyper"), tta=False, link="track")
    with pytest.raises(UnetkitError, match="link 'tracks': choose none, slices, track, lineage"):
        count_objects(layer, tta=False, link="tracks")


def test_the_score_box_filters_as_count_does_and_minus_one_keeps_the_models_own():
    """min_score in the widget is count's --min-score: -1 is the model's stored value, others override it."""
    import napari.layers
    import unetkit
    from unetkit.instances import instance_settings
    from unetkit.napari.widgets import _predictor
    img, truth = random_cells(size=128, n=12, rng=np.random.default_rng(7))
    faint = img.astype(np.float32)
    faint[truth % 2 == 1] *= 0.15                 # every other cell faint: the network is less sure of those
    layer = napari.layers.Image(faint.astype(np.uint8), name="faint")
    counts = {m: count_objects(layer, min_score=m, tta=False)[0][1]["metadata"]["count"] for m in (-1, 0, 0.97)}
    predictor = _predictor("nuclei", False)
    for m, expected_cfg in ((-1, instance_settings(predictor.meta)), (0.97, instance_settings(predictor.meta, min_score=0.97))):
        labels, _ = unetkit.label(predictor, faint.astype(np.uint8), instance_cfg=expected_cfg)
        assert counts[m] == labels.max()
    assert counts[0.97] < counts[0]
    strict = count_objects(layer, min_score=0.97, tta=False)[0][1]["metadata"]
    assert strict["count"] + strict["unsure_dropped"] == counts[0]     # every object dropped is said
    (data, kw, _), = count_objects(layer, tta=False)         # each object's score as a feature napari shows
    assert list(kw["features"]["index"]) == list(range(1, data.max() + 1))
    assert min(kw["features"]["score"]) >= instance_settings(predictor.meta).min_score > 0
    napari.layers.Labels(data, features=kw["features"])      # napari takes the table as it is


def test_an_rgb_layer_gives_a_plane_of_labels_on_the_same_grid():
    import napari.layers
    img, truth = random_cells(size=96, n=6, rng=np.random.default_rng(6))
    layer = napari.layers.Image(np.stack([img, img // 2, img], -1), name="rgb", rgb=True, scale=(2.0, 3.0))
    (data, kw, _), = count_objects(layer, tta=False)
    assert data.shape == (96, 96) and kw["scale"] == (2.0, 3.0)          # the colour axis is not a layer axis
    assert abs(kw["metadata"]["count"] - truth.max()) <= 1


def test_probabilities_widget_gives_one_layer_per_class():
    import napari.layers
    img, _ = random_cells(size=64, n=3, rng=np.random.default_rng(5))
    data, kw, kind = probabilities(napari.layers.Image(img, name="x"))
    assert kind == "image" and data.shape == (64, 64, 3) and kw["channel_axis"] == 2
    assert np.allclose(data.sum(-1), 1, atol=1e-3)                      # softmax over background/interior/boundary


def test_a_whole_slide_layer_is_sent_to_the_command_line():
    class Slide:   # a lazy layer: napari holds slides as dask/zarr arrays, nothing is read here
        name, rgb, multiscale = "slide", False, False
        data = np.broadcast_to(np.zeros(1, np.uint8), (20000, 20000))
    with pytest.raises(UnetkitError, match="slide: 20000x20000 px .* 'unetkit count'"):
        count_objects(Slide(), tta=False)


def test_label_refuses_what_is_not_one_plane_and_nan_pixels():
    import unetkit
    with pytest.raises(UnetkitError, match=r"stack: an image of shape \(3, 64, 64\) is not one 2-D plane"):
        unetkit.label("nuclei", np.zeros((3, 64, 64), np.uint8), name="stack")
    holes = np.ones((64, 64), np.float32)
    holes[5, 5] = np.nan
    with pytest.raises(UnetkitError, match="holes: 1 NaN/inf pixels"):
        unetkit.label("nuclei", holes, name="holes")


def test_a_lineage_gives_napari_the_divisions_as_the_tracks_layers_graph():
    import napari.layers
    from skimage.draw import disk
    from unetkit.linking import RULES, link_stack
    from unetkit.napari.widgets import _tracks_layer
    stack = np.zeros((3, 64, 64), np.uint32)
    stack[0][disk((32, 32), 10)] = 1
    for t, (a, b) in ((1, (2, 3)), (2, (4, 5))):        # two daughters, moving apart
        stack[t][disk((32, 25 - t), 7)], stack[t][disk((32, 40 + t), 7)] = a, b
    linked, links = link_stack(stack, **RULES["lineage"])
    data, kw, kind = _tracks_layer(linked, links.parents, {"name": "movie tracks"})
    assert kind == "tracks" and kw["graph"] == {2: [1], 3: [1]}
    assert data[:, :2].tolist() == [[1, 0], [2, 1], [2, 2], [3, 1], [3, 2]]   # by track, then time
    assert np.allclose(data[0, 2:], (32, 32))
    napari.layers.Tracks(data, graph=kw["graph"])


def test_a_labels_layer_from_another_tool_is_tracked_into_a_lineage():
    """Track objects: a labels layer whose frames number their objects 1..N each (as Cellpose does) gives a labels
    layer of tracks and a tracks layer with the division in its graph, as 'unetkit track' tracks the same masks."""
    import napari.layers
    from skimage.draw import disk
    from unetkit.linking import RULES, link_stack
    stack = np.zeros((4, 64, 64), np.uint16)
    stack[0][disk((32, 32), 10)] = stack[1][disk((32, 33), 10)] = 1
    for t in (2, 3):                                      # two daughters, each frame's own 1 and 2
        stack[t][disk((32, 24 - t), 7)], stack[t][disk((32, 41 + t), 7)] = 2, 1
    (labels, kw, kind), (tracks, tkw, tkind) = track_objects(napari.layers.Labels(stack, name="masks"), "lineage")
    assert kind == "labels" and tkind == "tracks" and kw["metadata"] == {"objects": 6, "tracks": 3, "divisions": 1}
    assert labels[0, 32, 32] == labels[1, 32, 33] and len({labels[3, 32, 21], labels[3, 32, 44]} - {0}) == 2
    mother = int(labels[1, 32, 33])
    assert tkw["graph"] == {int(labels[3, 32, 21]): [mother], int(labels[3, 32, 44]): [mother]}
    napari.layers.Tracks(tracks, graph=tkw["graph"])
    with pytest.raises(UnetkitError, match=r"masks: a float32 layer of shape \(4, 64, 64\); tracking takes"):
        track_objects(_FakeLayer(stack.astype(np.float32)), "track")


class _FakeLayer:
    """A layer of data napari would not take as labels (floats), as another plugin's image layer might hold."""
    def __init__(self, data):
        self.data, self.name = data, "masks"
