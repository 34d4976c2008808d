"""csam_tf: Compression-aware Sharpness Minimization on TensorFlow/Keras.

Installs the library (`csam_tf`) and the stage trainers (`trainers`) with
the stack pinned as DEVELOPERS.md chooses it.
"""

from setuptools import find_packages, setup

STACK = [
    "tensorflow==2.21.0",
    "tf-keras==2.21.0",  # tfmot wraps Keras-2 layers only
    "tensorflow-model-optimization==0.8.1",
    "keras-cv==0.9.0",   # runs on Keras 3; import it before tfmot
    "keras==3.15.1",
    "absl-py==1.4.0",
    "tensorboard==2.21.0",
    "ai-edge-litert==2.3.0",
    "tensorflow-datasets==4.9.10",
    "scipy==1.17.1",
    "matplotlib==3.11.2",
    "pillow==13.0.0",
]

setup(
    name="csam_tf",
    version="0.1.0",
    description="Compression-aware Sharpness Minimization (C-SAM) pruning "
                "for tf_keras models, certified and exported to TFLite.",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["csam_tf", "csam_tf.*", "trainers",
                                    "trainers.*"]),
    install_requires=STACK,
    # pytest-xdist: `make test` runs two test processes, one per core (most
    # tests spend their time in single-threaded Python: imports, tracing).
    # mkdocs: `make docs`, and tests/test_docs.py builds the site strictly.
    extras_require={"test": ["pytest==9.2.0", "pytest-xdist==3.8.0",
                             "mkdocs==1.6.1", "mkdocs-material==9.8.2",
                             "mkdocstrings-python==2.0.11"]},
    entry_points={"console_scripts": [
        "csam-train=csam_tf.train:entry_point"]},
)
