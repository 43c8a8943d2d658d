import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

MNIST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


# ---------------------------------------------------------------------------
# Shared fixtures (used by several test files)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_mnist_dir():
    """The folder holding MNIST's test set: $NEEDLE_GRADER_MNIST, else
    <repo>/../shared/data/mnist.  Tests that need it skip when it is absent."""
    folder = Path(os.environ.get("NEEDLE_GRADER_MNIST") or REPO_ROOT.parent / "shared" / "data" / "mnist")
    missing = [name for name in MNIST_FILES if not (folder / name).is_file()]
    if missing:
        pytest.skip(
            "real MNIST test set not found: %s missing in %s (set NEEDLE_GRADER_MNIST to the folder)"
            % (", ".join(missing), folder)
        )
    return folder


@pytest.fixture(scope="session")
def generated_mnist(tmp_path_factory):
    """(images_path, labels_path) of the grader's generated MNIST-like
    dataset (1000 examples, seed 0)."""
    from grader.kit import idx

    return idx.generate_mnist_like(tmp_path_factory.mktemp("generated-mnist"), n=1000, seed=0)


# ---------------------------------------------------------------------------
# Fixtures for the needle and handout tests
# ---------------------------------------------------------------------------


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
