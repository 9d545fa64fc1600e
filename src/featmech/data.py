"""Data sets: the 1-D regression model, bundled handwritten digits, and MNIST/CIFAR-10 files on disk.

Nothing is downloaded. ``digits`` is scikit-learn's bundled 8×8 handwritten digits (1797 images;
needs scikit-learn, part of the ``data`` and ``torch`` extras). ``mnist1d`` is MNIST-1D (Greydanus
2020), generated procedurally by the ``mnist1d`` package's ``make_dataset`` with its default
arguments (5000 signals of length 40, 10 classes, the standard 4000/1000 train/test split; its
downloading helpers are never called). MNIST is read from the four IDX files (raw or
``.gz``) and CIFAR-10 from its binary version (``data_batch_1.bin`` … ``test_batch.bin``) in a
directory the user already has; neither reader ever unpickles anything.
All arrays are float64 (images scaled to [0, 1]; MNIST-1D's real-valued signals as generated),
flattened to (n, features), with int64 labels, and read-only (copy one to change it).

>>> x, y = regression_1d(4, target=2.0, seed=0)
>>> x.shape, bool(np.allclose(y, 2.0 * x))
((4, 1), True)
>>> load_dataset("imagenet")
Traceback (most recent call last):
...
featmech.errors.InputError: unknown dataset 'imagenet': dataset must be one of digits, mnist1d, mnist, cifar10
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from featmech._validation import check_int, check_scalar
from featmech.errors import InputError
from featmech.params import PARAMETERS

__all__ = ["Dataset", "regression_1d", "load_digits", "read_idx", "load_mnist", "load_cifar10", "load_dataset",
           "load_mnist1d", "DATASETS", "MNIST_FILES", "CIFAR10_FILES"]

#: the data sets :func:`load_dataset` knows (the ``dataset`` parameter's choices)
DATASETS = PARAMETERS["dataset"].choices
#: the four IDX files of MNIST (each also accepted gzip-compressed, ``.gz``)
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")
#: the binary batches of CIFAR-10 (the "binary version", not the Python pickles)
CIFAR10_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)


def _frozen(a: np.ndarray) -> np.ndarray:
    """``a`` as an array that cannot be written to (a copy where it is a view of a writable one)."""
    a = np.asarray(a)
    if a.flags.writeable:
        if a.base is not None or not a.flags.owndata:
            a = a.copy()
        a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Dataset:
    """A classification data set: flattened float64 inputs, int64 labels (read-only arrays).

    Attributes:
        name: ``digits``, ``mnist1d``, ``mnist`` or ``cifar10``.
        x_train, y_train: the training inputs (n, features) and labels (n,).
        x_test, y_test: the test inputs and labels.
        n_classes: the number of classes.
        image_shape: (channels, height, width) of one image (``features`` = their product).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple[int, int, int]  # (channels, height, width)

    def __post_init__(self) -> None:
        for name in ("x_train", "y_train", "x_test", "y_test"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def n_features(self) -> int:
        """The number of input features (pixels × channels)."""
        return int(self.x_train.shape[1])


def regression_1d(n: int, *, data_var: float = 1.0, target: float = 1.0, noise: float = 0.0,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """docs/theory.md §1's data: x ~ N(0, V), y = k x + ε, ε ~ N(0, noise²).

    Arguments:
        n: the number of samples (≥ 1).
        data_var: V > 0.
        target: the slope k.
        noise: the label-noise std ≥ 0.
        seed: the seed.

    Returns:
        ``(x, y)``, read-only arrays of shape (n, 1).

    Raises:
        InputError: a value out of range.
    """
    n = check_int("n", n, low=1)
    V = check_scalar("data_var", data_var, low=0.0, low_inclusive=False)
    k = PARAMETERS["target"].check(target)
    s = PARAMETERS["noise"].check(noise)
    rng = np.random.default_rng(PARAMETERS["seed"].check(seed))
    x = rng.standard_normal((n, 1)) * np.sqrt(V)
    y = k * x + s * rng.standard_normal((n, 1))
    return _frozen(x), _frozen(y)


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    te, tr = idx[:n_test], idx[n_test:]
    return x[tr], y[tr], x[te], y[te]


def load_digits(*, seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's bundled digits (1797 8×8 images), pixel values /16, split into train/test by ``seed``.

    Arguments:
        seed: the seed of the split.
        test_fraction: the share of test images, in (0, 0.9].

    Returns:
        The :class:`Dataset` ``digits``.

    Raises:
        InputError: a value out of range.
        ImportError: scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits as _ld
    except ImportError as exc:  # pragma: no cover - optional
        raise ImportError("the digits data set needs scikit-learn: pip install 'featmech[data]'") from exc
    tf = check_scalar("test_fraction", test_fraction, low=0.0, low_inclusive=False, high=0.9)
    d = _ld()
    x = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    xtr, ytr, xte, yte = _split(x, y, tf, PARAMETERS["seed"].check(seed))
    return Dataset("digits", xtr, ytr, xte, yte, 10, (1, 8, 8))


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays() -> tuple[np.ndarray, ...]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - optional
        raise ImportError("the mnist1d data set needs the mnist1d package: pip install 'featmech[data]'") from exc
    d = make_dataset(get_dataset_args())  # procedural, seed 42 of the defaults; never the downloading helpers
    return tuple(_frozen(np.asarray(d[k], dtype=dt)) for k, dt in
                 (("x", np.float64), ("y", np.int64), ("x_test", np.float64), ("y_test", np.int64)))


def load_mnist1d() -> Dataset:
    """MNIST-1D generated by ``mnist1d.data.make_dataset`` on its default arguments (no download).

    4000 training and 1000 test signals of length 40 (real-valued, not scaled), 10 classes;
    ``image_shape`` (1, 1, 40), so a 1-D CNN sees one channel of length 40. Generating takes a few
    seconds; the arrays are cached for the life of the process.

    Returns:
        The :class:`Dataset` ``mnist1d``.

    Raises:
        ImportError: the ``mnist1d`` package is not installed.
    """
    xtr, ytr, xte, yte = _mnist1d_arrays()
    return Dataset("mnist1d", xtr, ytr, xte, yte, 10, (1, 1, 40))


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (MNIST's format), raw or gzip-compressed.

    Header: two zero bytes, a type code (0x08 ubyte … 0x0E double), the number of dimensions,
    then each dimension as a big-endian int32; the data follow in C order.

    Arguments:
        path: the file (``.gz``: gzip-compressed).

    Returns:
        The array, in native byte order (read-only).

    Raises:
        InputError: the file cannot be read, is not an IDX file, or is truncated (the message
            names the file).
    """
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as fh:
            head = fh.read(4)
            if len(head) != 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                raise InputError(f"{p}: not an IDX file (bad magic number)")
            ndim = head[3]
            dims = struct.unpack(f">{ndim}i", fh.read(4 * ndim))
            dtype = np.dtype(_IDX_TYPES[head[2]])
            count = int(np.prod(dims)) if dims else 1
            buf = fh.read(count * dtype.itemsize)
    except (OSError, EOFError, struct.error) as exc:
        raise InputError(f"{p}: cannot read IDX file: {exc}") from exc
    if len(buf) != count * dtype.itemsize:
        raise InputError(f"{p}: truncated IDX file ({len(buf)} of {count * dtype.itemsize} data bytes)")
    return _frozen(np.frombuffer(buf, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("=")))


def _check_directory(d: Path, what: str, files: tuple[str, ...]) -> None:
    if d.exists() and not d.is_dir():
        raise InputError(f"data_dir {str(d)!r} is a file, not a directory; the {what} directory must hold "
                         f"{', '.join(files)}")


def _find(directory: Path, stem: str) -> Path | None:
    for cand in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / cand).is_file():
            return directory / cand
    return None


def load_mnist(data_dir: str | os.PathLike[str]) -> Dataset:
    """MNIST (or Fashion-MNIST) from the four IDX files in ``data_dir`` (raw or .gz).

    Arguments:
        data_dir: the directory holding :data:`MNIST_FILES` (also ``.gz``, or with ``.idx`` for ``-idx``).

    Returns:
        The :class:`Dataset` ``mnist``.

    Raises:
        InputError: the directory does not exist or lacks a file (the message names the expected
            files), or a file is not a consistent IDX file.
    """
    d = Path(data_dir)
    _check_directory(d, "MNIST", MNIST_FILES)
    if not d.is_dir():
        raise InputError(f"MNIST directory {str(d)!r} does not exist; it must hold {', '.join(MNIST_FILES)} "
                         "(optionally .gz)")
    found = {s: _find(d, s) for s in MNIST_FILES}
    missing = [s for s, p in found.items() if p is None]
    if missing:
        raise InputError(f"MNIST directory {str(d)!r} lacks {', '.join(missing)} (raw or .gz); expected "
                         f"{', '.join(MNIST_FILES)}")
    xtr, ytr, xte, yte = (read_idx(p) for p in found.values() if p is not None)
    if xtr.ndim != 3 or xte.ndim != 3 or ytr.ndim != 1 or yte.ndim != 1 or len(xtr) != len(ytr) or len(xte) != len(yte):
        raise InputError(f"MNIST files in {str(d)!r} have inconsistent shapes")
    h, w = xtr.shape[1:]
    scale = 255.0 if xtr.dtype == np.uint8 else 1.0
    return Dataset("mnist", xtr.reshape(len(xtr), -1) / scale, ytr.astype(np.int64),
                   xte.reshape(len(xte), -1) / scale, yte.astype(np.int64), int(max(ytr.max(), yte.max())) + 1,
                   (1, h, w))


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    rec = 1 + 3 * 32 * 32
    if raw.size == 0 or raw.size % rec:
        raise InputError(f"{path}: not a CIFAR-10 binary batch (size {raw.size} is not a multiple of {rec})")
    raw = raw.reshape(-1, rec)
    labels = raw[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise InputError(f"{path}: label {labels.max()} out of range 0..9 (is this CIFAR-100?)")
    return raw[:, 1:].astype(np.float64) / 255.0, labels


def load_cifar10(data_dir: str | os.PathLike[str]) -> Dataset:
    """CIFAR-10 from its binary files (``data_batch_1.bin`` … ``data_batch_5.bin``, ``test_batch.bin``).

    Reads whichever training batches exist (at least one) and ``test_batch.bin``; never unpickles.

    Arguments:
        data_dir: the directory holding :data:`CIFAR10_FILES` (or its ``cifar-10-batches-bin``
            subdirectory).

    Returns:
        The :class:`Dataset` ``cifar10``.

    Raises:
        InputError: the directory does not exist or lacks the batches (the message names the
            expected files), or a file is not a CIFAR-10 batch.
    """
    d = Path(data_dir)
    _check_directory(d, "CIFAR-10", CIFAR10_FILES)
    sub = d / "cifar-10-batches-bin"
    if sub.is_dir():
        d = sub
    if not d.is_dir():
        raise InputError(f"CIFAR-10 directory {str(d)!r} does not exist; it must hold {', '.join(CIFAR10_FILES)}")
    train = [d / f for f in CIFAR10_FILES[:5] if (d / f).is_file()]
    if not train or not (d / "test_batch.bin").is_file():
        raise InputError(f"CIFAR-10 directory {str(d)!r} lacks the binary batches; expected "
                         f"{', '.join(CIFAR10_FILES)} (the 'binary version', not the Python pickles)")
    parts = [_read_cifar_batch(p) for p in train]
    xte, yte = _read_cifar_batch(d / "test_batch.bin")
    return Dataset("cifar10", np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), xte, yte,
                   10, (3, 32, 32))


def load_dataset(name: str, *, data_dir: str | os.PathLike[str] | None = None, seed: int = 0,
                 max_train: int | None = None) -> Dataset:
    """``digits`` (bundled), ``mnist1d`` (generated), or ``mnist`` / ``cifar10`` from ``data_dir``; optionally subsample the train set.

    Arguments:
        name: one of :data:`DATASETS`.
        data_dir: the directory with the files (needed for ``mnist`` and ``cifar10``).
        seed: the seed of the digits split and of the subsample.
        max_train: keep this many training examples (chosen by ``seed``); ``None``: all.

    Returns:
        The :class:`Dataset`.

    Raises:
        InputError: an unknown data set, a missing ``data_dir`` or missing files (named), a bad
            ``seed`` or ``max_train``.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}: dataset must be {PARAMETERS['dataset'].range_text}")
    seed = PARAMETERS["seed"].check(seed)
    m = PARAMETERS["max_train"].check(max_train)
    if name == "digits":
        ds = load_digits(seed=seed)
    elif name == "mnist1d":
        ds = load_mnist1d()
    else:
        if data_dir is None:
            raise InputError(f"dataset {name} needs data_dir (--data-dir), a directory holding "
                             f"{', '.join(MNIST_FILES if name == 'mnist' else CIFAR10_FILES)}")
        ds = load_mnist(data_dir) if name == "mnist" else load_cifar10(data_dir)
    if m is not None and m < len(ds.x_train):
        idx = np.random.default_rng(seed).permutation(len(ds.x_train))[:m]
        ds = Dataset(ds.name, ds.x_train[idx], ds.y_train[idx], ds.x_test, ds.y_test, ds.n_classes, ds.image_shape)
    return ds
