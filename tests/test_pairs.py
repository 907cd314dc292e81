import numpy as np
import pytest

from unetkit.data.pairs import load_pair, mask_to_labels, pair_folders, split_pairs
from unetkit.errors import UnetkitError


def _pairs(write, names, mask_names=None, size=(16, 16)):
    for n in names:
        write(f"img/{n}.png", np.zeros(size, np.uint8))
    for n in mask_names if mask_names is not None else names:
        write(f"msk/{n}.png", np.zeros(size, np.uint8))


def test_pairs_by_stem_across_formats(tmp_path, write):
    write("img/a.png", np.zeros((8, 8), np.uint8))
    write("msk/a.tif", np.zeros((8, 8), np.uint8))
    pairs = pair_folders(tmp_path / "img", tmp_path / "msk")
    assert [(p.name, p.mask.suffix) for p in pairs] == [("a", ".tif")]


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(UnetkitError, match="nope: image folder not found"):
        pair_folders(tmp_path / "nope", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnetkitError, match="empty: no image files"):
        pair_folders(tmp_path / "empty", tmp_path)


def test_image_without_mask_and_mask_without_image(tmp_path, write):
    _pairs(write, ["a", "b"], ["a"])
    with pytest.raises(UnetkitError, match=r"b\.png: no mask named b\.\*"):
        pair_folders(tmp_path / "img", tmp_path / "msk")
    write("msk/b.png", np.zeros((16, 16), np.uint8))
    write("msk/c.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(UnetkitError, match=r"c\.png: no image named c\.\*"):
        pair_folders(tmp_path / "img", tmp_path / "msk")


def test_size_mismatch(tmp_path, write):
    write("img/a.png", np.zeros((16, 16), np.uint8))
    write("msk/a.png", np.zeros((16, 12), np.uint8))
    (pair,) = pair_folders(tmp_path / "img", tmp_path / "msk")
    with pytest.raises(UnetkitError, match=r"a\.png: mask is 16x12 but image a\.png is 16x16"):
        load_pair(pair, "binary")


def test_mask_values():
    assert mask_to_labels(np.array([[0, 255]], np.uint8), "binary", "m").tolist() == [[0, 1]]
    assert mask_to_labels(np.array([[0, 0]], np.uint8), "binary", "m").tolist() == [[0, 0]]
    with pytest.raises(UnetkitError, match="m.png: binary mask has 3 distinct values"):
        mask_to_labels(np.array([[0, 128, 255]], np.uint8), "binary", "m.png")
    with pytest.raises(UnetkitError, match=r"not class indices 0\.\.2"):
        mask_to_labels(np.array([[0, 3]], np.uint8), "classes", "m.png", num_classes=3)
    with pytest.raises(UnetkitError, match="colour image"):
        mask_to_labels(np.dstack([np.zeros((2, 2)), np.ones((2, 2)), np.zeros((2, 2))]).astype(np.uint8), "binary", "m")
    inst = np.array([[0, 1, 2, 300]], np.uint16)
    assert mask_to_labels(inst, "instances", "m").tolist() == [[0, 1, 2, 300]]


def test_splits(tmp_path, write):
    _pairs(write, [f"{i:02d}" for i in range(10)])
    pairs = pair_folders(tmp_path / "img", tmp_path / "msk")
    tr, va = split_pairs(pairs, val_range="7:10")
    assert [p.name for p in va] == ["07", "08", "09"] and len(tr) == 7
    tr, va = split_pairs(pairs, val_files=["03"])
    assert [p.name for p in va] == ["03"]
    a = split_pairs(pairs, val_fraction=0.3, seed=1)[1]
    b = split_pairs(pairs, val_fraction=0.3, seed=1)[1]
    assert a == b and len(a) == 3
    with pytest.raises(UnetkitError, match="selects none"):
        split_pairs(pairs, val_range="20:30")
    with pytest.raises(UnetkitError, match="no pair named 'zz'"):
        split_pairs(pairs, val_files=["zz"])
    with pytest.raises(UnetkitError, match="no training images"):
        split_pairs(pairs, val_range="0:10")


def test_binary_mask_given_as_instances():
    binary = np.zeros((20, 20), np.uint8)
    binary[1:4, 1:4] = binary[8:11, 8:11] = binary[15:18, 1:4] = 255
    with pytest.raises(UnetkitError, match="m.png: looks like a binary mask"):
        mask_to_labels(binary, "instances", "m.png")
    with pytest.raises(UnetkitError, match="a label image\\), or train on it as foreground with --mask-mode binary"):
        mask_to_labels(binary, "instances", "m.png")   # the advice fits calibrate and evaluate, which take no mode
    one = np.zeros((20, 20), np.uint8)
    one[2:6, 2:6] = 1  # a single object is a valid instance mask
    assert mask_to_labels(one, "instances", "m.png").max() == 1


def test_one_object_in_pieces_is_an_instance_image_when_saved_wider_than_8_bit():
    import numpy as np
    import pytest

    from unetkit.data.pairs import mask_to_labels
    from unetkit.errors import UnetkitError
    pieces = np.zeros((32, 32), np.uint16)
    pieces[2:6, 2:6] = pieces[10:14, 10:14] = pieces[20:24, 20:24] = 1    # count's label image: one object, 3 pieces
    assert mask_to_labels(pieces, "instances", "labels.tif").max() == 1
    with pytest.raises(UnetkitError, match="binary mask"):
        mask_to_labels(pieces.astype(np.uint8), "instances", "mask.png")   # 8-bit 0/1: a binary mask
    with pytest.raises(UnetkitError, match="binary mask"):
        mask_to_labels(pieces * 65535, "instances", "mask.tif")             # 0/65535: a binary mask


def test_palette_png_masks_are_read_as_their_indices(tmp_path, write):
    """Annotation tools save class masks as palette PNGs: the pixels are class indices, the palette only paints
    them. Training pairs and evaluation read the indices; an image saved with a palette keeps its colours."""
    from PIL import Image

    from unetkit.evaluation import evaluate_folders
    from unetkit.io import read_array, read_mask
    classes = np.zeros((32, 32), np.uint8)
    classes[4:12, 4:12], classes[20:28, 16:30] = 1, 2
    write("img/a.png", (classes * 100).astype(np.uint8))
    pal = Image.fromarray(classes, mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)      # class 1 red, class 2 green
    (tmp_path / "msk").mkdir()
    pal.save(tmp_path / "msk" / "a.png")
    assert read_array(tmp_path / "msk" / "a.png").shape == (32, 32, 3)    # as a picture: the palette's colours
    np.testing.assert_array_equal(read_mask(tmp_path / "msk" / "a.png"), classes)
    (pair,) = pair_folders(tmp_path / "img", tmp_path / "msk")
    _, labels = load_pair(pair, "classes", 3)
    np.testing.assert_array_equal(labels, classes)
    write("pred/a_mask.png", classes)
    s = evaluate_folders(tmp_path / "pred", tmp_path / "msk", mask_mode="classes", num_classes=3,
                         out_dir=tmp_path / "e", verbose=False)
    assert s["mean_iou"] == 1.0


def test_a_jpeg_mask_is_refused_for_its_compression_not_taken_for_labels(tmp_path):
    import cv2
    mask = np.zeros((64, 64), np.uint8)
    cv2.circle(mask, (30, 30), 12, 255, -1)
    cv2.imwrite(str(tmp_path / "m.jpg"), mask)
    blurred = cv2.imread(str(tmp_path / "m.jpg"), cv2.IMREAD_UNCHANGED)
    assert np.unique(blurred).size > 2                              # what JPEG does to a binary mask
    for mode in ("binary", "instances"):
        with pytest.raises(UnetkitError, match=r"m\.jpg: a JPEG mask .*save masks losslessly"):
            mask_to_labels(blurred, mode, tmp_path / "m.jpg")
    flat = np.zeros((8, 8), np.uint8)
    assert mask_to_labels(flat, "binary", tmp_path / "flat.jpg").max() == 0   # a two-valued one came through
