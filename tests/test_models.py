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
