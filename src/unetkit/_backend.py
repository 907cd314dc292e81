"""Pick the Keras backend before keras is imported anywhere in the package.

TensorFlow is the default (fastest for U-Net training on the CPUs we measured);
a user's own KERAS_BACKEND wins.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the console
