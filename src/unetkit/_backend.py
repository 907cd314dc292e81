"""Pick the Keras backend before keras is imported anywhere in the package.

TensorFlow is the default (fastest for U-Net training on the CPUs we measured);
a user's own KERAS_BACKEND wins.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the console

# Start-up lines the backends print from C++ before anything can configure them (oneDNN and CPU-instruction
# banners, absl's pre-init notice, CUDA plugin registration on machines without a GPU): noise, not warnings.
NOISE = ("All log messages before absl::InitializeLog", "oneDNN custom operations are on",
         "This TensorFlow binary is optimized", "To enable the following instructions",
         "rebuild TensorFlow with the appropriate compiler flags", "Unable to register cuDNN factory",
         "Unable to register cuFFT factory", "Unable to register cuBLAS factory", "TF-TRT Warning",
         "computation placer already registered", "Could not find cuda drivers", "cuda_dnn", "cuda_fft",
         "cuda_blas", "Attempting to register factory for plugin")


def filter_noise(text: str) -> str:
    """The lines of ``text`` that are not known start-up noise (real warnings and errors stay)."""
    return "".join(line for line in text.splitlines(keepends=True) if line.strip() and
                   not any(n in line for n in NOISE))


def import_backend_quietly() -> None:
    """Import Keras (and its backend) with the C++ start-up banners filtered out of stderr.

    The banners are written to file descriptor 2 by C++ code, below Python's ``sys.stderr``,
    so the descriptor itself is pointed at a temporary file for the import, and whatever is
    not noise is printed afterwards (also when the import fails)."""
    import sys
    import tempfile
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            rest = filter_noise(capture.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
