"""Models: one shared tester; each architecture's test subclasses it in a few lines."""
import keras
import numpy as np
import pytest

from unetkit.errors import UnetkitError
from unetkit.models import available, build


class ModelTester:
    name = "unet"
    options: dict = {}

    def make(self, **extra):
        return build(self.name, **{**self.options, **extra})

    @pytest.mark.parametrize("size", [32, 48, 96])
    def test_any_size_divisible_by_2_to_depth(self, size):
        m = self.make(base_filters=4, depth=2, input_channels=1)
        out = keras.ops.convert_to_numpy(m(np.zeros((1, size, size, 1), "float32")))
        assert tuple(out.shape) == (1, size, size, 1)

    def test_probabilities_in_range(self):
        m = self.make(base_filters=4, depth=2, input_channels=3, num_classes=3)
        out = keras.ops.convert_to_numpy(m(np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)))
        assert out.shape == (2, 32, 32, 3)
        np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)

    def test_sigmoid_for_one_class(self):
        m = self.make(base_filters=4, depth=2)
        out = keras.ops.convert_to_numpy(m(np.random.default_rng(0).random((1, 32, 32, 1), dtype=np.float32)))
        assert out.min() >= 0 and out.max() <= 1

    def test_batch_norm_statistics_settle_within_a_short_run(self):
        """The moving statistics that inference uses reach the data's within 30 steps (weights held
        still, so only the statistics move): short runs predict what they learned. Keras' default
        momentum (0.99) left them 1.7-2.2 batch standard deviations off here."""
        keras.utils.set_random_seed(0)
        m = self.make(base_filters=4, depth=2, input_channels=1, batch_norm=True)
        m.compile(optimizer=keras.optimizers.SGD(0.0), loss="binary_crossentropy")
        x = (5 + 3 * np.random.default_rng(0).standard_normal((8, 32, 32, 1))).astype("float32")
        m.fit(x, (x > 5).astype("float32"), batch_size=8, epochs=30, verbose=0)
        norms = [layer for layer in m.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms
        moving = [keras.ops.convert_to_numpy(bn.moving_mean).copy() for bn in norms]  # before any further call
        for bn, mean_used in zip(norms, moving):
            feats = keras.ops.convert_to_numpy(keras.Model(m.input, bn.input)(x, training=True))
            off = np.abs(mean_used - feats.mean((0, 1, 2))) / (feats.std((0, 1, 2)) + 1e-6)
            assert off.max() < 0.25, bn.name

    def test_transposed_upsampling(self):
        m = self.make(base_filters=4, depth=2, upsampling="transpose")
        assert any("upconvT" in layer.name for layer in m.layers)


class TestUnet(ModelTester):
    name = "unet"

    def test_defaults_match_the_seeds_model(self):
        from unetkit.models.reference import seed_unet
        ours = build("unet", input_size=256)
        seed = seed_unet((256, 256, 1))
        assert ours.count_params() == seed.count_params() == 31_031_685
        # same stack of layer kinds, in the same order
        kinds = lambda m: [type(layer).__name__ for layer in m.layers]  # noqa: E731
        assert kinds(ours) == kinds(seed)

    def test_batch_norm_adds_layers(self):
        m = build("unet", base_filters=4, depth=2, batch_norm=True)
        assert sum("BatchNormalization" == type(layer).__name__ for layer in m.layers) > 0


class TestUnetLight(ModelTester):
    name = "unet_light"


def test_registry_lists_and_rejects():
    assert {"unet", "unet_light"} <= set(available())
    with pytest.raises(UnetkitError, match="unknown model 'vnet'"):
        build("vnet")


def test_bad_upsampling_mode():
    with pytest.raises(ValueError, match="unknown upsampling mode"):
        build("unet", base_filters=4, depth=2, upsampling="pixelshuffle")


class TestResUnet(ModelTester):
    name = "resunet"

    def test_has_residual_shortcuts(self):
        m = self.make(base_filters=4, depth=2)
        assert sum(type(layer).__name__ == "Add" for layer in m.layers) == 5  # 2 down, bottom, 2 up


class TestAttentionUnet(ModelTester):
    name = "attention_unet"

    def test_gates_every_skip(self):
        m = self.make(base_filters=4, depth=3)
        assert sum(layer.name.endswith("_gate") for layer in m.layers) == 3


@pytest.mark.parametrize("name", ["unet", "resunet", "attention_unet"])
def test_multi_task_head_is_the_last_channel(name):
    m = build(name, base_filters=4, depth=2, num_classes=3, aux="distance")
    out = keras.ops.convert_to_numpy(m(np.random.default_rng(0).random((1, 32, 32, 1), dtype=np.float32)))
    assert out.shape == (1, 32, 32, 4)
    np.testing.assert_allclose(out[..., :3].sum(-1), 1.0, rtol=1e-5)   # softmax main head
    assert 0 <= out[..., 3].min() and out[..., 3].max() <= 1              # sigmoid distance head


def test_parameter_counts_of_the_defaults():
    counts = {n: build(n, input_size=256).count_params() for n in ["unet", "unet_light", "resunet", "attention_unet"]}
    assert counts["unet"] == 31_031_685
    assert counts["unet_light"] < counts["resunet"] < counts["unet"]
    assert counts["unet_light"] < counts["attention_unet"] < counts["unet"]


def test_contract_reports_divisor_halo_and_heads():
    from unetkit.models import get
    arch = get("resunet")
    assert arch.divisor(depth=3) == 8 and arch.divisor() == 16
    assert arch.halo(depth=4) > arch.halo(depth=2) > 0
    assert arch.heads(num_classes=3, aux="distance") == {"main": 3, "distance": 1}
    with pytest.raises(UnetkitError, match="takes no option"):
        build("resunet", seed_head=True)
