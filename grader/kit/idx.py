"""Read and write MNIST's IDX files, and make a small MNIST-like dataset to
grade on when the real one is not at hand.

IDX: a big-endian header, then the raw bytes.  The header is a magic number
(0x0000 08 ND: 0x08 says unsigned bytes, ND the number of dimensions; 2051
for images, 2049 for labels) and one 32-bit size per dimension.

Runs inside the grader's confined child too, so it uses numpy and the
standard library only.
"""
import gzip
import os
import struct

import numpy as np

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
IMAGES_NAME = "t10k-images-idx3-ubyte.gz"
LABELS_NAME = "t10k-labels-idx1-ubyte.gz"


def _write(path, header, data):
    payload = header + data
    path = os.fspath(path)
    if path.endswith(".gz"):
        # mtime=0 and no file name in the gzip header: the same data always
        # gives the same bytes, so generated files can be compared by digest.
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)


def read_bytes(path):
    """A file's bytes, decompressed when its name ends in .gz."""
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read()


def read_idx(path):
    """The uint8 array an IDX file holds, in the shape its header gives."""
    raw = read_bytes(path)
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _as_uint8(array, ndim, what):
    array = np.asarray(array)
    if array.ndim != ndim:
        raise ValueError("%s must have %d dimensions, got shape %s" % (what, ndim, array.shape))
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255 or not np.all(array == np.round(array))):
            raise ValueError("%s must hold integers in 0..255 (IDX stores unsigned bytes)" % what)
        array = array.astype(np.uint8)
    return np.ascontiguousarray(array)


def write_idx_images(path, images):
    """Write images, uint8 of shape (n, rows, cols), as an IDX images file
    (gzipped if path ends in .gz)."""
    images = _as_uint8(images, 3, "images")
    header = struct.pack(">IIII", IMAGES_MAGIC, *images.shape)
    _write(path, header, images.tobytes())


def write_idx_labels(path, labels):
    """Write labels, uint8 of shape (n,), as an IDX labels file (gzipped if
    path ends in .gz)."""
    labels = _as_uint8(labels, 1, "labels")
    header = struct.pack(">II", LABELS_MAGIC, labels.shape[0])
    _write(path, header, labels.tobytes())


def _blur(image, passes=2):
    # A few passes of a 3x3 box filter are close enough to a Gaussian.
    for _ in range(passes):
        padded = np.pad(image, 1)
        image = sum(
            padded[1 + dy:1 + dy + image.shape[0], 1 + dx:1 + dx + image.shape[1]]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        ) / 9.0
    return image


def _class_templates(rng, classes=10, size=28):
    """One smooth stroke drawing per class: a random walk of a pen through
    the middle of the canvas, blurred, scaled to [0, 1]."""
    templates = np.zeros((classes, size, size))
    for c in range(classes):
        canvas = np.zeros((size, size))
        point = rng.uniform(9, 19, size=2)
        for _ in range(4):  # four strokes, each a straight segment
            target = np.clip(point + rng.normal(0, 7, size=2), 5, size - 6)
            for t in np.linspace(0, 1, 30):
                r, col = np.round(point + t * (target - point)).astype(int)
                canvas[r - 1:r + 2, col - 1:col + 2] = 1.0
            point = target
        canvas = _blur(canvas)
        templates[c] = canvas / canvas.max()
    return templates


def generate_mnist_like(out_dir, n=1000, seed=0):
    """Write a deterministic, learnable stand-in for MNIST's test set.

    n images of 28x28 in 10 balanced classes (n must be divisible by 100):
    each class is a fixed stroke drawing, and each image is its class's
    drawing shifted by up to 2 pixels, with random contrast and noise.  A
    two-layer network learns it within an epoch.

    Returns (images_path, labels_path), named like MNIST's test files.
    """
    if n <= 0 or n % 100:
        raise ValueError("n must be a positive multiple of 100, got %r" % (n,))
    rng = np.random.default_rng(seed)
    templates = _class_templates(rng)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    shifts = rng.integers(-2, 3, size=(n, 2))
    contrast = rng.uniform(0.6, 1.0, size=(n, 1, 1))
    noise = rng.normal(0, 0.12, size=(n, 28, 28))
    # the drawings stay clear of the border, so rolling loses no ink
    shifted = np.stack([np.roll(templates[c], tuple(s), axis=(0, 1)) for c, s in zip(labels, shifts)])
    images = np.round(np.clip(shifted * contrast + noise, 0, 1) * 255).astype(np.uint8)
    os.makedirs(out_dir, exist_ok=True)
    images_path = os.path.join(out_dir, IMAGES_NAME)
    labels_path = os.path.join(out_dir, LABELS_NAME)
    write_idx_images(images_path, images)
    write_idx_labels(labels_path, labels)
    return images_path, labels_path
