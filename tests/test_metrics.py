import numpy as np
import pytest
from skimage.draw import disk
from skimage.metrics import adapted_rand_error

from unetkit.metrics import cells_of, confusion, evaluate_pair, pixel_scores, rand_scores


def test_confusion_and_pixel_scores_by_hand():
    truth = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1]])
    conf = confusion(truth, pred, 2)
    assert conf.tolist() == [[1, 1], [0, 2]]
    s = pixel_scores(conf)
    assert s.accuracy == 0.75
    assert s.dice == pytest.approx([2 / 3, 4 / 5])
    assert s.iou == pytest.approx([1 / 2, 2 / 3])
    assert s.mean_iou == pytest.approx(7 / 12)


def test_absent_class_is_nan_not_zero():
    s = pixel_scores(confusion(np.zeros((2, 2), int), np.zeros((2, 2), int), 3))
    assert s.iou[0] == 1.0 and np.isnan(s.iou[1]) and s.mean_iou == 1.0


def test_rand_identical_and_merged():
    a = np.zeros((20, 20), int)
    a[:, :9], a[:, 11:] = 1, 2
    assert rand_scores(a, a).v_rand == pytest.approx(1.0)
    merged = (a > 0).astype(int)
    r = rand_scores(a, merged)
    # two halves of 180 px merged into one segment of 360 px (pairs, without self-pairs)
    together_truth, together_pred = 2 * 180 * 179, 360 * 359
    assert r.precision == pytest.approx(1.0)
    assert r.recall == pytest.approx(together_truth / together_pred)
    assert r.v_rand == pytest.approx(2 * together_truth / (together_truth + together_pred))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rand_matches_skimage(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 6, (40, 40))
    pred = rng.integers(0, 4, (40, 40))
    are, prec, rec = adapted_rand_error(truth, pred, ignore_labels=(0,))
    r = rand_scores(truth, pred)
    assert r.rand_error == pytest.approx(are, rel=1e-9)
    assert r.precision == pytest.approx(prec) and r.recall == pytest.approx(rec)


def test_isbi_measures_on_disks():
    truth = np.zeros((64, 64), np.uint8)
    truth[disk((20, 20), 10)] = 1
    truth[disk((20, 44), 10)] = 1
    assert cells_of(truth).max() == 2
    perfect = evaluate_pair(truth, truth)
    assert perfect.v_rand == pytest.approx(1.0) and perfect.pixel_error == 0
    bridged = truth.copy()
    bridged[18:22, 20:44] = 1  # a missing membrane merges the two cells
    s = evaluate_pair(truth, bridged)
    assert s.v_rand < 0.8 and s.pixel_error > 0


def test_border_thinning_removes_the_membrane_thickness_penalty():
    # two cells split by a 5 px membrane; the prediction draws it 9 px thick
    truth = np.ones((40, 40), np.uint8)
    truth[:, 18:23] = 0
    thick = np.ones((40, 40), np.uint8)
    thick[:, 16:25] = 0
    s = evaluate_pair(truth, thick)
    assert s.v_rand == pytest.approx(1.0)  # thinned: still two correct cells
    assert s.v_rand_raw < 1.0               # raw: the extra membrane pixels form a segment of their own
    # a gap in the predicted membrane merges the cells, thinned or not
    gap = thick.copy()
    gap[18:22, :] = 1
    assert evaluate_pair(truth, gap).v_rand < 0.8


def test_isbi_protocol_picks_the_threshold_that_closes_a_faint_membrane(tmp_path):
    from unetkit.io import write_image
    from unetkit.evaluation import evaluate_folders
    from unetkit.metrics import ISBI_THRESHOLDS, v_rand_over_thresholds
    truth = np.ones((40, 40), np.uint8)
    truth[:, 18:23] = 0
    # cell probability: confident cells, a membrane at 0.1, except a faint stretch at 0.7
    prob = np.where(truth > 0, 0.95, 0.1).astype(np.float32)
    prob[15:25, 18:23] = 0.7
    sweep = v_rand_over_thresholds(truth, prob)
    assert len(sweep) == len(ISBI_THRESHOLDS)
    assert sweep[ISBI_THRESHOLDS.index(0.5)] < 0.8   # at 0.5 the faint stretch merges the two cells
    assert sweep[ISBI_THRESHOLDS.index(0.8)] == pytest.approx(1.0)
    pred, truth_dir = tmp_path / "pred", tmp_path / "truth"
    write_image(pred / "a_mask.png", (prob > 0.5).astype(np.uint8) * 255)
    write_image(truth_dir / "a.png", truth * 255)
    without = evaluate_folders(pred, truth_dir, out_dir=tmp_path / "e1", verbose=False, task="membranes")
    assert "v_rand_isbi" not in without  # the protocol needs the probability maps
    np.save(pred / "a_prob.npy", prob)
    s = evaluate_folders(pred, truth_dir, out_dir=tmp_path / "e2", verbose=False, task="membranes")
    assert s["v_rand"] < 0.8 and s["v_rand_isbi"] == pytest.approx(1.0) and s["isbi_threshold"] >= 0.7


def test_region_masks_lead_with_foreground_iou_and_skip_v_rand(tmp_path, capsys):
    from skimage.draw import ellipse
    from unetkit.evaluation import evaluate_folders
    from unetkit.io import write_image
    for i, shift in enumerate((0, 30)):
        truth = np.zeros((200, 240), np.uint8)
        truth[ellipse(100, 120, 60, 80, shape=truth.shape)] = 255          # one lesion
        pred = np.zeros_like(truth)
        pred[ellipse(100, 120 + shift, 60, 80, shape=truth.shape)] = 255
        write_image(tmp_path / "truth" / f"{i}.png", truth)
        write_image(tmp_path / "pred" / f"{i}_mask.png", pred)
    s = evaluate_folders(tmp_path / "pred", tmp_path / "truth")
    assert s["task"] == "regions" and "v_rand" not in s
    assert s["fg_iou"] < 1 and 0 < s["isic_jaccard"] <= s["fg_iou"]
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[1:4] == ["fg_iou", "fg_dice", "isic_jaccard"]
    assert "regions: foreground IoU" in out


def test_ground_truths_without_a_prediction_are_said_not_scored(tmp_path, capsys):
    """A prediction run that skipped an image leaves its ground truth unpaired: both evaluators say how many were
    left out (and the instance one, label images without a truth), and record it, instead of scoring fewer images
    in silence."""
    from unetkit.evaluation import evaluate_folders, evaluate_instances
    from unetkit.io import write_image
    labels = np.zeros((40, 40), np.uint16)
    labels[5:15, 5:15], labels[20:30, 20:35] = 1, 2
    for name in ("a", "b", "c"):
        write_image(tmp_path / "truth" / f"{name}.png", labels)
    write_image(tmp_path / "counts" / "a_labels.tif", labels)
    write_image(tmp_path / "counts" / "z_labels.tif", labels)
    s = evaluate_instances(tmp_path / "counts", tmp_path / "truth", out_dir=tmp_path / "e1")
    err = capsys.readouterr().err
    assert "2 of 3 ground truths" in err and "(first: b)" in err and "cover 1 image\n" in err
    assert "1 of 2 label images" in err and "(first: z)" in err
    assert s["images"] == 1 and s["unscored_truths"] == 2 and s["pooled"][0]["f1"] == 1.0
    write_image(tmp_path / "masks" / "a_mask.png", (labels > 0).astype(np.uint8) * 255)
    s = evaluate_folders(tmp_path / "masks", tmp_path / "truth", out_dir=tmp_path / "e2", mask_mode="instances")
    assert "2 of 3 ground truths" in capsys.readouterr().err and s["unscored_truths"] == 2 and s["images"] == 1
    evaluate_instances(tmp_path / "counts", tmp_path / "truth", out_dir=tmp_path / "e3", verbose=False)
    assert capsys.readouterr().err == ""                                   # quiet means quiet


def test_a_count_folder_scored_as_masks_points_to_instances(tmp_path):
    from unetkit.errors import UnetkitError
    from unetkit.evaluation import evaluate_folders
    from unetkit.io import write_image
    labels = np.zeros((40, 40), np.uint16)
    labels[5:15, 5:15] = 1
    write_image(tmp_path / "truth" / "a.png", labels)
    write_image(tmp_path / "counts" / "a_labels.tif", labels)
    write_image(tmp_path / "counts" / "a_count.png", np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "counts" / "counts.csv").write_text("file,t,count\na.png,0,1\n")
    with pytest.raises(UnetkitError, match="holds 'unetkit count' outputs.*--instances"):
        evaluate_folders(tmp_path / "counts", tmp_path / "truth", out_dir=tmp_path / "e", verbose=False)
