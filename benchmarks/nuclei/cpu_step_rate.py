"""Training steps a second of the bundled nuclei network on this machine, with no data loader: how long the GPU
recipe (nuclei_gpu.yaml: 166,400 patches of 256 px in batches of 16) would take here. Random arrays, five timed
steps after two warm-up steps.

Usage: python benchmarks/nuclei/cpu_step_rate.py PRECISION [BASE_FILTERS] [BATCH]   (float32 or mixed_bfloat16)
"""
import sys
import time

import keras
import numpy as np

from unetkit.models import build

precision = sys.argv[1]
base = int(sys.argv[2]) if len(sys.argv) > 2 else 16
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 16
keras.mixed_precision.set_global_policy(precision)
model = build("unet", input_size=256, input_channels=1, num_classes=3, base_filters=base, depth=4, batch_norm=True,
              dropout=0.2)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", jit_compile=False)
x = np.random.rand(batch, 256, 256, 1).astype("float32")
y = keras.utils.to_categorical(np.random.randint(0, 3, (batch, 256, 256)), 3)
for _ in range(2):
    model.train_on_batch(x, y)
t0 = time.time()
for _ in range(5):
    model.train_on_batch(x, y)
step = (time.time() - t0) / 5
print(f"{precision}, {base} filters, batch {batch}: {step:.3f} s a step, {batch / step:.1f} patches/s; "
      f"the GPU recipe's 166,400 patches: {166400 / (batch / step) / 3600:.1f} h")
