"""What numnet knows about each data set: files, pinned checksums, mirrors and class names.

Checksums: a file passes if its SHA-256 (or, where only an MD5 was ever published, its MD5) is one
of the pinned values, or if it is gzip and the SHA-256 of its *decompressed* bytes is the pinned
``content_sha256``. The last rule is what accepts Debian's ``dataset-fashion-mnist``, whose .gz
files were recompressed (different archive hashes, identical IDX bytes); both the upstream and the
Debian archive hashes are pinned as well so the common cases need no decompression.

Every function that reads this registry also takes a ``spec=`` argument, so tests (and users with
a private mirror) can pass their own :class:`DatasetSpec` instead of editing ``DATASETS``.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMATS = ("idx", "cifar-python", "cifar-binary")

# IDX data sets are always these four names (upstream, Debian and every mirror use them).
IDX_TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
IDX_TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
IDX_TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
IDX_TEST_LABELS = "t10k-labels-idx1-ubyte.gz"


@dataclass(frozen=True)
class FileSpec:
    """One file and the hashes it may have.

    Attributes:
        name: file name as stored (and as appended to a mirror's base URL).
        sha256: accepted SHA-256 hex digests of the file as stored.
        md5: accepted MD5 hex digests (only where no SHA-256 was published).
        content_sha256: SHA-256 of the gunzipped bytes, for .gz files; accepts any recompression.
        size: published size in bytes; a download stops with an error past it.
    """

    name: str
    sha256: tuple[str, ...] = ()
    md5: tuple[str, ...] = ()
    content_sha256: str | None = None
    size: int | None = None

    @property
    def pinned(self) -> bool:
        """Whether any checksum is pinned for this file."""
        return bool(self.sha256 or self.md5 or self.content_sha256)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, download, verify and parse one data set.

    Attributes:
        name: registry key, also the sub-folder name in the cache directory.
        format: ``"idx"``, ``"cifar-python"`` or ``"cifar-binary"``.
        files: what a download fetches (the four IDX .gz files, or one CIFAR tar.gz).
        mirrors: base URLs tried in turn; a file's URL is ``mirror + file.name``.
        class_names: label ``i`` is ``class_names[i]``.
        image_shape: (C, H, W) of one image.
        num_train: expected training images (``None``: not checked).
        num_test: expected test images (``None``: not checked).
        extract_dir: folder inside the archive holding ``members`` (archives only).
        members: the files the loader reads from ``extract_dir``, training batches first,
            test batch last (archives only; for IDX the loader reads ``files`` directly).
        hint: extra advice shown when the data set is missing (e.g. the Debian package).
    """

    name: str
    format: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    num_train: int | None = None
    num_test: int | None = None
    extract_dir: str | None = None
    members: tuple[FileSpec, ...] = ()
    hint: str = ""

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}; got {self.format!r}")
        if self.format != "idx" and (self.extract_dir is None or not self.members):
            raise ValueError(f"{self.name}: a {self.format} spec needs extract_dir and members")
        for m in self.mirrors:
            if not m.startswith(("http://", "https://")) or not m.endswith("/"):
                raise ValueError(f"mirrors must be http(s) URLs ending in '/'; got {m!r}")

    @property
    def local_files(self) -> tuple[FileSpec, ...]:
        """The files the loader reads (and verifies) once the data set is in place."""
        return self.members if self.extract_dir else self.files

    @property
    def num_classes(self) -> int:
        """C, the number of classes."""
        return len(self.class_names)


_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

# Fashion-MNIST: upstream archive SHA-256/MD5 (published), Debian's recompressed archives (computed
# from dataset-fashion-mnist), and the SHA-256 of the decompressed IDX bytes (the same for both).
_FASHION_FILES = (
    FileSpec(
        IDX_TRAIN_IMAGES,
        sha256=(
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ),
        md5=("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "cf8536b0aa1a6ac5fa3f23001093305c"),
        content_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        size=26421880,
    ),
    FileSpec(
        IDX_TRAIN_LABELS,
        sha256=(
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ),
        md5=("25c81989df183df01b3e8a0aad5dffbe", "10bea18fdb374794d4bb42e356e600c9"),
        content_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        size=29515,
    ),
    FileSpec(
        IDX_TEST_IMAGES,
        sha256=(
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ),
        md5=("bef4ecab320f06d8554ea6380940ec79", "f78720b4224f21cce2f2ccf2d7a94c9a"),
        content_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        size=4422102,
    ),
    FileSpec(
        IDX_TEST_LABELS,
        sha256=(
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ),
        md5=("bb300cfdad3c16e7a12a480ee83cd310", "0d30e22e447f3c33dab9ed536400ac01"),
        content_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        size=5148,
    ),
)

# MNIST: the archive hashes that torchvision, TFDS and others pin for the LeCun files.
_MNIST_FILES = (
    FileSpec(
        IDX_TRAIN_IMAGES,
        sha256=("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",),
        md5=("f68b3c2dcbeaaa9fbdd348bbdeb94873",),
        size=9912422,
    ),
    FileSpec(
        IDX_TRAIN_LABELS,
        sha256=("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",),
        md5=("d53e105ee54ea40749a09fcbcd1e9432",),
        size=28881,
    ),
    FileSpec(
        IDX_TEST_IMAGES,
        sha256=("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",),
        md5=("9fb629c4189551a2d022fa330f9573f3",),
        size=1648877,
    ),
    FileSpec(
        IDX_TEST_LABELS,
        sha256=("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",),
        md5=("ec29112dd5afa0611ce80d1b7f02629c",),
        size=4542,
    ),
)

_CIFAR_PY_MEMBERS = (
    FileSpec("data_batch_1", md5=("c99cafc152244af753f735de768cd75f",)),
    FileSpec("data_batch_2", md5=("d4bba439e000b95fd0a9bffe97cbabec",)),
    FileSpec("data_batch_3", md5=("54ebc095f3ab1f0389bbae665268c751",)),
    FileSpec("data_batch_4", md5=("634d18415352ddfa80567beed471001a",)),
    FileSpec("data_batch_5", md5=("482c414d41f54cd18b22e5b47cb7c3cb",)),
    FileSpec("test_batch", md5=("40351d587109b95175f43aff81a1287e",)),
)
# No hashes were published for the extracted .bin files: the archive is verified on download and
# the loader checks every record's size and label.
_CIFAR_BIN_MEMBERS = (
    *(FileSpec(f"data_batch_{i}.bin") for i in range(1, 6)),
    FileSpec("test_batch.bin"),
)
_TORONTO = ("https://www.cs.toronto.edu/~kriz/",)

DATASETS: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        format="idx",
        files=_FASHION_FILES,
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        class_names=_FASHION_CLASSES,
        image_shape=(1, 28, 28),
        num_train=60000,
        num_test=10000,
        hint="sudo apt-get install dataset-fashion-mnist (Debian/Ubuntu)",
    ),
    "mnist": DatasetSpec(
        name="mnist",
        format="idx",
        files=_MNIST_FILES,
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        class_names=tuple(str(d) for d in range(10)),
        image_shape=(1, 28, 28),
        num_train=60000,
        num_test=10000,
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        format="cifar-python",
        files=(
            FileSpec(
                "cifar-10-python.tar.gz",
                sha256=("6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",),
                md5=("c58f30108f718f92721af3b95e74349a",),
                size=170498071,
            ),
        ),
        mirrors=_TORONTO,
        class_names=_CIFAR10_CLASSES,
        image_shape=(3, 32, 32),
        num_train=50000,
        num_test=10000,
        extract_dir="cifar-10-batches-py",
        members=_CIFAR_PY_MEMBERS,
    ),
    "cifar10-binary": DatasetSpec(
        name="cifar10-binary",
        format="cifar-binary",
        files=(
            FileSpec(
                "cifar-10-binary.tar.gz",
                sha256=("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",),
                md5=("c32a1d4ab5d03f1284b67883e8d87530",),
                size=170052171,
            ),
        ),
        mirrors=_TORONTO,
        class_names=_CIFAR10_CLASSES,
        image_shape=(3, 32, 32),
        num_train=50000,
        num_test=10000,
        extract_dir="cifar-10-batches-bin",
        members=_CIFAR_BIN_MEMBERS,
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name``; ValueError listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}; got {name!r}") from None
