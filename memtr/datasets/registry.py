"""Registry of the datasets: upstream addresses, mirror paths, checksums and splits.

Every dataset lists the files of ``data/raw/<dataset>/`` as :class:`RawFile` entries. Each has
two forms:

* upstream: ``url`` is either the file itself (a ``.gz`` URL is gunzipped) or an archive
  (``.tgz``/``.tar.gz``/``.zip``) that holds it as ``member``;
* mirror: ``mirror`` is a path relative to the mirror base (``MEMTR_DATA_MIRROR`` or the
  ``data.mirror`` param, a local folder or an http(s) URL). A mirror holds *extracted* files,
  except that a ``.gz`` upstream file is kept as the same ``.gz`` (byte-identical).

Checksums use pooch's ``"alg:hex"`` form. ``DOWNLOAD_HASHES`` holds what is known of upstream
downloads (archives, ``.gz`` or plain files); ``RawFile.sha256`` is the checksum of the raw file
itself, verified after extraction, and also that of its mirror copy when the mirror holds the
extracted file. Anything unknown (``None``) is recorded on first download in
``data/raw/<dataset>/checksums.lock.json`` and verified on every later fetch.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MIRROR_ENV = "MEMTR_DATA_MIRROR"


@dataclass(frozen=True)
class RawFile:
    """One file of ``data/raw/<dataset>/`` with its upstream and mirror forms."""

    name: str
    url: str
    member: str | None = None
    mirror: str = ""
    sha256: str | None = None

    @property
    def mirror_is_gz(self) -> bool:
        """True when the mirror copy is the gzipped upstream file, not the raw file."""
        return self.mirror.endswith(".gz") and not self.name.endswith(".gz")


@dataclass(frozen=True)
class GlueTask:
    """How fairseq's ``preprocess_GLUE_tasks.sh`` reads one task (0-based columns)."""

    folder: str
    splits: Mapping[str, str]
    inputs: tuple[int, ...]
    test_inputs: tuple[int, ...]
    label: int
    dev_label: int | None = None
    header_in_train_dev: bool = True
    num_fields: int | None = None
    regression: bool = False


@dataclass(frozen=True)
class Dataset:
    """A registry entry; ``kind`` is ``mt``, ``lm``, ``glue`` or ``synthetic``."""

    name: str
    kind: str
    description: str
    files: tuple[RawFile, ...] = ()
    src: str = "de"
    tgt: str = "en"
    lowercase: bool = False
    glue: GlueTask | None = None
    options: Mapping[str, object] = field(default_factory=dict)

    @property
    def eval_only(self) -> bool:
        """True for a test set without training data (``eval.extra_test``, not ``data``)."""
        return bool(self.options.get("eval_only"))

    @property
    def eval_sets(self) -> dict:
        """Evaluation-only entries: label of each test set -> its raw file(s)."""
        return dict(self.options.get("eval_sets", {}))

    def file(self, name: str) -> RawFile:
        """Return the raw file called ``name``."""
        for raw in self.files:
            if raw.name == name:
                return raw
        raise KeyError(f"{self.name} has no raw file {name!r}")

    @property
    def urls(self) -> tuple[str, ...]:
        """Distinct upstream addresses, in order."""
        return tuple(dict.fromkeys(raw.url for raw in self.files))


def basename(url_or_path: str) -> str:
    """Last path component of a URL or archive member (query strings ignored)."""
    return posixpath.basename(urlsplit(url_or_path).path.rstrip("/"))


# --------------------------------------------------------------------------------------------
# Upstream addresses and what is known of their checksums (sources in comments).

M30K = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw"
STATMT = "https://statmt.org"
STATMT_DATA = "https://data.statmt.org"
EUROPARL = f"{STATMT}/wmt13/training-parallel-europarl-v7.tgz"
COMMONCRAWL = f"{STATMT}/wmt13/training-parallel-commoncrawl.tgz"
NEWS_COMMENTARY = f"{STATMT_DATA}/wmt17/translation-task/training-parallel-nc-v12.tgz"
WMT17_DEV = f"{STATMT_DATA}/wmt17/translation-task/dev.tgz"
WMT14_TEST = f"{STATMT}/wmt14/test-full.tgz"
IWSLT14 = "https://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz"
WIKITEXT = "https://wikitext.smerity.com"
GLUE = "https://dl.fbaipublicfiles.com/glue/data"
SENTEVAL = "https://dl.fbaipublicfiles.com/senteval/senteval_data"

DOWNLOAD_HASHES: dict[str, str] = {
    # Multi30k: byte-identical to ../shared/data/multi30k (MANIFEST.sha256).
    f"{M30K}/train.de.gz": (
        "sha256:726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"
    ),
    f"{M30K}/train.en.gz": (
        "sha256:d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"
    ),
    f"{M30K}/val.de.gz": "sha256:f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    f"{M30K}/val.en.gz": "sha256:14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    f"{M30K}/test_2016_flickr.de.gz": (
        "sha256:9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8"
    ),
    f"{M30K}/test_2016_flickr.en.gz": (
        "sha256:611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9"
    ),
    # WMT: TensorFlow Datasets' url_checksums (wmt14/wmt17_translate) and sacrebleu's table.
    EUROPARL: "sha256:0224c7c710c8a063dfd893b0cc0830202d61f4c75c17eb8e31836103d27d96e7",
    COMMONCRAWL: "sha256:c7a74e2ea01ac6c920123108627e35278d4ccb5701e15428ffa34de86fa3a9e5",
    NEWS_COMMENTARY: "sha256:2b45f30ef1d550d302fd17dd3a5cbe19134ccc4c2cf50c2dae534aee600101a2",
    WMT17_DEV: "md5:9b1aa63c1cf49dccdd20b962fe313989",  # sacrebleu "wmt17/dev"
    WMT14_TEST: "md5:a8cd784e006feb32ac6f3d9ec7eb389a",  # sacrebleu "wmt14/full"
    # WikiText: torchtext's MD5 of the original archives (the smerity.com copies are the same).
    f"{WIKITEXT}/wikitext-2-v1.zip": "md5:542ccefacc6c27f945fb54453812b3cd",
    f"{WIKITEXT}/wikitext-103-v1.zip": "md5:9ddaacaf6af0710eda8c456decff7832",
    # MRPC sources: TensorFlow Datasets' url_checksums/glue.txt.
    f"{SENTEVAL}/msr_paraphrase_train.txt": (
        "sha256:60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89"
    ),
    f"{SENTEVAL}/msr_paraphrase_test.txt": (
        "sha256:a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784"
    ),
    # The IWSLT'14 archive and the GLUE zips on fbaipublicfiles: recorded on first download.
}


# --------------------------------------------------------------------------------------------
# Datasets


def _multi30k() -> Dataset:
    sha = {  # sha256 of the gunzipped files (the .gz checksums are in DOWNLOAD_HASHES)
        "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
        "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
        "val.de": "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
        "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
        "test_2016_flickr.de": "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
        "test_2016_flickr.en": "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
    }
    files = tuple(
        RawFile(
            name=f"{split}.{lang}",
            url=f"{M30K}/{split}.{lang}.gz",
            mirror=f"multi30k/{split}.{lang}.gz",
            sha256=f"sha256:{sha[f'{split}.{lang}']}",
        )
        for split in ("train", "val", "test_2016_flickr")
        for lang in ("de", "en")
    )
    return Dataset(
        "multi30k_de_en",
        "mt",
        "Multi30k task 1, raw text: train 29,000, valid 1,014, test 2016 flickr 1,000",
        files,
        options={"splits": {"train": "train", "valid": "val", "test": "test_2016_flickr"}},
    )


NEWSTEST2014_SRC_SGM = "830c9dc32cc8b1ba33896b5693ab5c0b5d6393ad33cc643c96d6bd4f307c6d5b"
NEWSTEST2014_REF_SGM = "4c4f48eea4db127fdf600402e4a73a3ec6272e62e767a4fbfc34f5482015a580"


def newstest2014_files() -> list[RawFile]:
    """The source and reference ``.sgm`` files of newstest2014 De-En (3,003 sentences)."""
    return [
        RawFile(
            f"newstest2014-deen-{side}.sgm",
            WMT14_TEST,
            f"test-full/newstest2014-deen-{side}.sgm",
            f"wmt14-newstest2014-deen/newstest2014-deen-{side}.sgm",
            f"sha256:{sha}",
        )
        for side, sha in (("src.de", NEWSTEST2014_SRC_SGM), ("ref.en", NEWSTEST2014_REF_SGM))
    ]


def _newstest2014() -> Dataset:
    return Dataset(
        "newstest2014_de_en",
        "mt",
        "WMT'14 newstest2014 De-En alone (3,003 news sentences, sacrebleu's wmt14/full): an "
        "out-of-domain test set for models trained on other De-En data",
        tuple(newstest2014_files()),
        options={"eval_only": True, "eval_sets": {
            "newstest2014": ("newstest2014-deen-src.de.sgm", "newstest2014-deen-ref.en.sgm")}},
    )  # fmt: skip


def _wmt14() -> Dataset:
    corpora = (
        (EUROPARL, "training/europarl-v7.de-en"),
        (COMMONCRAWL, "commoncrawl.de-en"),
        (NEWS_COMMENTARY, "training/news-commentary-v12.de-en"),
    )
    files = [
        RawFile(
            f"{basename(stem)}.{lang}",
            url,
            f"{stem}.{lang}",
            f"wmt14-de-en/{basename(stem)}.{lang}",
        )
        for url, stem in corpora
        for lang in ("de", "en")
    ]
    files += [
        RawFile(
            f"newstest2013.{lang}",
            WMT17_DEV,
            f"dev/newstest2013.{lang}",
            f"wmt14-de-en/newstest2013.{lang}",
        )
        for lang in ("de", "en")
    ]
    files += newstest2014_files()
    return Dataset(
        "wmt14_de_en",
        "mt",
        "WMT'14 En-De training corpora as in fairseq's prepare-wmt14en2de.sh (Europarl v7, "
        "CommonCrawl, News Commentary v12); valid newstest2013; test newstest2014 (3,003 "
        "sentences, sacrebleu's wmt14/full)",
        tuple(files),
        options={"train": tuple(basename(stem) for _, stem in corpora)},
    )


IWSLT14_TEST_SETS = (
    "IWSLT14.TED.dev2010",
    "IWSLT14.TEDX.dev2012",
    "IWSLT14.TED.tst2010",
    "IWSLT14.TED.tst2011",
    "IWSLT14.TED.tst2012",
)


def _iwslt14() -> Dataset:
    names = [f"train.tags.de-en.{lang}" for lang in ("de", "en")]
    names += [f"{stem}.de-en.{lang}.xml" for stem in IWSLT14_TEST_SETS for lang in ("de", "en")]
    files = tuple(
        RawFile(name, IWSLT14, f"de-en/{name}", f"iwslt14-de-en/{name}") for name in names
    )
    return Dataset(
        "iwslt14_de_en",
        "mt",
        "IWSLT'14 De-En (TED) as in fairseq's prepare-iwslt14.sh: lowercased, valid = every "
        "23rd training pair, test = dev2010 + dev2012 + tst2010-2012",
        files,
        lowercase=True,
    )


WIKITEXT_SHA256 = {
    ("wikitext-2", "train"): "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
    ("wikitext-2", "valid"): "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
    ("wikitext-2", "test"): "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
    ("wikitext-103", "valid"): "9aee9f52d6e77de6c7751fc5e7c44287db3ec0eaf15477098acc6b93c1c4250b",
    ("wikitext-103", "test"): "56db52eb157b1ab5c89646eef70510c1eca6e12a3bfdb99f0d6b05b4eacb75b9",
}


def _wikitext(
    name: str, folder: str, description: str, splits: tuple[str, ...] = ("train", "valid", "test")
) -> Dataset:
    files = []
    for split in splits:
        sha = WIKITEXT_SHA256.get((folder, split))
        files.append(
            RawFile(
                f"wiki.{split}.tokens",
                f"{WIKITEXT}/{folder}-v1.zip",
                f"{folder}/wiki.{split}.tokens",
                f"{folder}/wiki.{split}.tokens",
                f"sha256:{sha}" if sha else None,
            )
        )
    options: dict = {}
    if "train" not in splits:  # an evaluation-only entry: label -> its file
        sets = {f"{name.split('_')[0]}_{split}": f"wiki.{split}.tokens" for split in splits}
        options = {"eval_only": True, "eval_sets": sets}
    return Dataset(name, "lm", description, tuple(files), src="", tgt="", options=options)


STD_SPLITS = {"train": "train", "valid": "dev", "test": "test"}
GLUE_TASKS: dict[str, GlueTask] = {
    "cola": GlueTask("CoLA", STD_SPLITS, (3,), (1,), 1, header_in_train_dev=False),
    "sst2": GlueTask("SST-2", STD_SPLITS, (0,), (1,), 1),
    "mrpc": GlueTask("MRPC", STD_SPLITS, (3, 4), (3, 4), 0),
    "qqp": GlueTask("QQP", STD_SPLITS, (3, 4), (1, 2), 5, num_fields=6),
    "stsb": GlueTask("STS-B", STD_SPLITS, (7, 8), (7, 8), 9, regression=True),
    "mnli": GlueTask(
        "MNLI",
        {
            "train": "train",
            "valid": "dev_matched",
            "valid1": "dev_mismatched",
            "test": "test_matched",
            "test1": "test_mismatched",
        },
        (8, 9),
        (8, 9),
        11,
        dev_label=15,
    ),
    "qnli": GlueTask("QNLI", STD_SPLITS, (1, 2), (1, 2), 3),
    "rte": GlueTask("RTE", STD_SPLITS, (1, 2), (1, 2), 3),
    "wnli": GlueTask("WNLI", STD_SPLITS, (1, 2), (1, 2), 3),
}
GLUE_ZIPS = {"QQP": "QQP-clean.zip", "QNLI": "QNLIv2.zip"}
MRPC_DEV_IDS = f"{GLUE}/mrpc_dev_ids.tsv"


def _glue(key: str, task: GlueTask) -> Dataset:
    if task.folder == "MRPC":  # built from the SentEval files as GLUE's download script does
        files = tuple(
            RawFile(basename(url), url, None, f"glue/MRPC/{basename(url)}")
            for url in (
                f"{SENTEVAL}/msr_paraphrase_train.txt",
                f"{SENTEVAL}/msr_paraphrase_test.txt",
                MRPC_DEV_IDS,
            )
        )
    else:
        url = f"{GLUE}/{GLUE_ZIPS.get(task.folder, task.folder + '.zip')}"
        files = tuple(
            RawFile(f"{tsv}.tsv", url, f"{task.folder}/{tsv}.tsv", f"glue/{task.folder}/{tsv}.tsv")
            for tsv in task.splits.values()
        )
    return Dataset(
        f"glue_{key}",
        "glue",
        f"GLUE {task.folder} in the layout of fairseq's RoBERTa GLUE recipe (input0/input1/label)",
        files,
        src="",
        tgt="",
        glue=task,
    )


def _build() -> dict[str, Dataset]:
    entries = [
        _multi30k(),
        _wmt14(),
        _newstest2014(),
        _iwslt14(),
        _wikitext("wikitext2", "wikitext-2", "WikiText-2 (v1, tokenized): 2.1M training tokens"),
        _wikitext(
            "wikitext103", "wikitext-103", "WikiText-103 (v1, tokenized): 103M training tokens"
        ),
        _wikitext(
            "wikitext103_eval",
            "wikitext-103",
            "WikiText-103 valid and test alone (217,646 and 245,569 tokens): the same articles "
            "as WikiText-2's valid/test, with WikiText-103's larger vocabulary",
            ("valid", "test"),
        ),
        *(_glue(key, task) for key, task in GLUE_TASKS.items()),
        Dataset(
            "synthetic",
            "synthetic",
            "generated copy/reverse/sort sequence pairs (memtr.datasets.synthetic), no network needed",
            src="src",
            tgt="tgt",
        ),
    ]
    return {entry.name: entry for entry in entries}


DATASETS: dict[str, Dataset] = _build()


def get_dataset(name: str) -> Dataset:
    """Return the registry entry ``name``; a ``KeyError`` lists the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None
