"""The dataset registry: addresses, mirror paths and checksums are consistent."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from memtr.data.prepare import ASSEMBLERS, PREPARERS, required_raw_files
from memtr.datasets.params import DataParams
from memtr.datasets.registry import (
    DATASETS,
    DOWNLOAD_HASHES,
    GLUE_TASKS,
    WMT14_TEST,
    WMT17_DEV,
    basename,
)

HASH = re.compile(r"^(sha256:[0-9a-f]{64}|md5:[0-9a-f]{32})$")
ARCHIVE = (".tgz", ".tar.gz", ".zip")
PAPER = {"multi30k_de_en", "wmt14_de_en", "iwslt14_de_en", "wikitext2", "wikitext103", "synthetic"}


def test_every_dataset_of_the_issue_is_registered():
    assert set(DATASETS) >= PAPER
    assert {f"glue_{t}" for t in ("rte", "mrpc", "sst2", "cola")} <= set(DATASETS)
    assert len([name for name in DATASETS if name.startswith("glue_")]) == len(GLUE_TASKS) == 9


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_entry_is_consistent(name):
    ds = DATASETS[name]
    assert ds.kind in PREPARERS
    names = [raw.name for raw in ds.files]
    if ds.eval_only:  # read by the extra_test stage: every file of its sets is a raw file
        assert ds.eval_sets and not ds.options.get("splits")
        for files in ds.eval_sets.values():
            assert set([files] if isinstance(files, str) else files) <= set(names)
    elif ds.kind == "mt":
        assert name in ASSEMBLERS and (ds.src, ds.tgt) == ("de", "en")
    assert len(names) == len(set(names))
    assert len({raw.mirror for raw in ds.files}) == len(ds.files)
    if ds.kind != "synthetic":
        assert set(required_raw_files(ds, DataParams().bpe)) == set(names)
    for raw in ds.files:
        assert urlsplit(raw.url).scheme == "https"
        assert (raw.member is not None) == raw.url.endswith(ARCHIVE), raw
        assert not raw.mirror.startswith(("/", "http")) and ".." not in raw.mirror.split("/")
        if raw.member is None and raw.url.endswith(".gz"):  # the mirror keeps the same .gz
            assert raw.mirror_is_gz and basename(raw.mirror) == basename(raw.url)
        else:  # the mirror holds the extracted file
            assert not raw.mirror_is_gz and basename(raw.mirror) == basename(raw.member or raw.url)
        assert raw.sha256 is None or HASH.match(raw.sha256)


def test_known_download_hashes_are_used_and_well_formed():
    urls = {raw.url for ds in DATASETS.values() for raw in ds.files}
    assert set(DOWNLOAD_HASHES) <= urls
    assert all(HASH.match(h) for h in DOWNLOAD_HASHES.values())


def test_mirror_layout_of_the_shared_folder():
    """The registry's mirror paths for the small datasets match ../shared/data's layout."""
    from data_helpers import shared_data

    root = shared_data()
    manifest = {}
    for line in (root / "MANIFEST.sha256").read_text().splitlines():
        if line and not line.startswith("#"):
            sha, _, path = line.split()
            manifest[path] = f"sha256:{sha}"
    for name in ("multi30k_de_en", "wikitext2"):
        for raw in DATASETS[name].files:
            known = DOWNLOAD_HASHES[raw.url] if raw.mirror_is_gz else raw.sha256
            assert manifest[raw.mirror] == known
    wt103 = {raw.mirror: raw.sha256 for raw in DATASETS["wikitext103"].files}
    for split in ("valid", "test"):
        assert (
            manifest[f"wikitext-103/wiki.{split}.tokens"]
            == wt103[f"wikitext-103/wiki.{split}.tokens"]
        )
    assert wt103["wikitext-103/wiki.train.tokens"] is None  # recorded on first download
    wmt = {raw.mirror: raw.sha256 for raw in DATASETS["wmt14_de_en"].files}
    for side in ("src.de", "ref.en"):
        path = f"wmt14-newstest2014-deen/newstest2014-deen-{side}.sgm"
        assert manifest[path] == wmt[path]


def test_wmt_test_and_dev_checksums_match_sacrebleu():
    """The WMT'14 test archive is sacrebleu's 'wmt14/full' (fairseq's recipe, 3,003 lines)."""
    from sacrebleu.dataset import DATASETS as SACREBLEU

    for key, url in (("wmt14/full", WMT14_TEST), ("wmt17/dev", WMT17_DEV)):
        entry = SACREBLEU[key]
        assert [basename(u) for u in entry.data] == [basename(url)]
        assert DOWNLOAD_HASHES[url] == f"md5:{entry.md5[0]}"
        members = {raw.member for raw in DATASETS["wmt14_de_en"].files if raw.url == url}
        if key == "wmt14/full":
            assert set(entry.langpairs["de-en"]) == members
