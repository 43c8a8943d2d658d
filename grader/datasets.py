"""The MNIST-format data the softmax_loss and nn_epoch suites run on.

Data comes from ``--data DIR`` (or ``$NEEDLE_GRADER_DATA``); without it, a
small deterministic dataset is generated. Either way the grader copies the
files into its own workspace before a child sees them, so a submission's own
``data/`` folder is never what it is graded on.
"""

import dataclasses
import hashlib
import os
import shutil

from .kit import idx

# Preferred first: the test set is what course staff can share most freely.
FILE_PAIRS = (("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
              ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
              ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
              ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"))
GENERATED_EXAMPLES = 1000
GENERATED_SEED = 0


class DataError(Exception):
    """The data folder given cannot be used."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    source: str          # "mnist" (files given) or "generated"
    origin: str          # the folder given, or "generated"
    images: str          # paths inside the grader's workspace
    labels: str
    digest: str          # of the decompressed contents
    examples: int

    def describe(self):
        if self.source == "generated":
            return f"generated MNIST-like data ({self.examples} examples; no MNIST files given, pass --data DIR)"
        return f"MNIST files {os.path.basename(self.images)}, {os.path.basename(self.labels)} " \
               f"from {self.origin} ({self.examples} examples)"

    def as_json(self):
        return {"source": self.source, "origin": self.origin, "images": os.path.basename(self.images),
                "labels": os.path.basename(self.labels), "digest": self.digest, "examples": self.examples}

    def child_paths(self):
        return {"images": self.images, "labels": self.labels}


def _read(path):
    try:
        return idx.read_bytes(path)
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _describe_files(images, labels):
    """Digest and example count, checking the headers so bad data fails here and not in a student's case."""
    image_bytes, label_bytes = _read(images), _read(labels)
    for path, data, magic in ((images, image_bytes, 2051), (labels, label_bytes, 2049)):
        if len(data) < 8 or int.from_bytes(data[:4], "big") != magic:
            raise DataError(f"{path}: not an IDX file of the expected kind (magic number {magic})")
    count = int.from_bytes(image_bytes[4:8], "big")
    if count != int.from_bytes(label_bytes[4:8], "big"):
        raise DataError(f"{images} and {labels} hold different numbers of examples")
    digest = hashlib.sha256(hashlib.sha256(image_bytes).digest() + hashlib.sha256(label_bytes).digest())
    return digest.hexdigest(), count


def generated(workspace_dir):
    """The small deterministic dataset, written into ``workspace_dir``."""
    images, labels = idx.generate_mnist_like(workspace_dir, n=GENERATED_EXAMPLES, seed=GENERATED_SEED)
    for path in (images, labels):   # read by the unprivileged child, whatever this process's umask
        os.chmod(path, 0o644)
    digest, count = _describe_files(images, labels)
    return Dataset("generated", "generated", images, labels, digest, count)


def resolve(data_dir, workspace_dir):
    """The dataset to grade on, copied into ``workspace_dir``."""
    data_dir = data_dir or os.environ.get("NEEDLE_GRADER_DATA") or None
    if data_dir is None:
        return generated(workspace_dir)
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: no such data folder")
    for image_name, label_name in FILE_PAIRS:
        source_images, source_labels = os.path.join(data_dir, image_name), os.path.join(data_dir, label_name)
        if os.path.isfile(source_images) and os.path.isfile(source_labels):
            images, labels = os.path.join(workspace_dir, image_name), os.path.join(workspace_dir, label_name)
            for source, target in ((source_images, images), (source_labels, labels)):
                shutil.copyfile(source, target)
                os.chmod(target, 0o644)
            digest, count = _describe_files(images, labels)
            return Dataset("mnist", os.path.abspath(data_dir), images, labels, digest, count)
    names = ", ".join(pair[0] for pair in FILE_PAIRS[:2])
    raise DataError(f"{data_dir}: no MNIST files found (looked for {names} and their labels)")
