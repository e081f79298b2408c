"""OHSUMED loaders: 23 MeSH cardiovascular-disease categories (C01..C23), one binary task each.

OHSUMED (Hersh et al. 1994; Joachims' 23-category version) labels MEDLINE
abstracts with the first-level categories of the MeSH "Diseases" tree; a
document may carry several. Each category becomes a binary task named by its
code (``C01``), with its MeSH heading as ``title`` and its scope note as
``description`` (from :mod:`mtlsearch.data.ohsumed_categories`), scored by F1.

Two sources:

``ohsumed_arff``
    a MEKA/MULAN multi-label ARFF (:mod:`mtlsearch.data.arff`): the relation
    name's ``-C 23`` makes the first 23 attributes the labels, matched to
    C01..C23 by attribute name (in any declaration order); the other attributes
    are the (numeric) word features, kept as they are. The file has no split:
    test and val are carved by iterative stratification
    (:mod:`mtlsearch.data.splits`), seeded. A preset of the generic ``arff``
    loader (:mod:`mtlsearch.data.arff_dataset`), which reads the rows; a
    category with fewer than 5 positives in a split (or none) is named in a
    warning, and all 23 are kept.

``ohsumed_folders``
    Joachims' layout ``{training,test}/Cxx/<docid>`` (one text file per document
    and category; a document id under several category folders is one
    multi-label document) in a folder or a ``.tar``/``.tar.gz`` archive. The
    official training/test split comes from the folder names and val is carved
    from training by iterative stratification (a layout with no
    training/test folders, ``Cxx/<docid>`` as in ``ohsumed-all-docs``, has its
    test split carved too). Each row keeps the raw text in a ``text`` column and
    a bag-of-words feature vector over a vocabulary chosen on the training split
    only (the ``vocab_size`` terms found in the most training documents).
    A truncated archive, an empty document and one that is not UTF-8 text are
    errors naming the file.

``path`` may use ``~``, ``$VAR`` and ``${VAR}`` (e.g.
``${MTLSEARCH_DATA}/ohsumed/meka_arff/OHSUMED-F.arff``). The fingerprint holds
the source's checksum (the file's sha256; for a folder, its file names, sizes
and modification times) instead of the path, so the table is rebuilt when the
data change and shared wherever the same data live.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from mtlsearch.data.arff import read_arff, read_header
from mtlsearch.data.arff_dataset import arff_path, arff_table, features_and_labels
from mtlsearch.data.canonical import DatasetInfo, TaskInfo, build_table
from mtlsearch.data.labelled import MIN_POSITIVES, TaskDescription, carve_splits_for, check_positives
from mtlsearch.data.loader import Loader, LoaderOptions, register
from mtlsearch.data.sources import (
    TextSourceOptions,
    bag_of_words_features,
    file_sha256,
    iter_files,
    resolve_path,
    source_checksum,
    source_fingerprint,
    strip_archive_suffix,
    tokenize,  # noqa: F401  (re-exported: callers import it from here)
)
from mtlsearch.data.splits import stratified_splits
from mtlsearch.errors import DataError

log = logging.getLogger(__name__)

NUM_CATEGORIES = 23
_CATEGORY_NAME = re.compile(r"^C(\d{1,2})$", re.IGNORECASE)


# ---------------------------------------------------------------- shared helpers


def category_tasks() -> list[TaskInfo]:
    """The 23 OHSUMED tasks, C01..C23."""
    from mtlsearch.data.ohsumed_categories import OHSUMED_CATEGORIES

    return [
        TaskInfo(c.code, "binary", ("negative", "positive"), description=c.description, title=c.name, metric="f1")
        for c in sorted(OHSUMED_CATEGORIES.values(), key=lambda c: c.code)
    ]


def category_code(name: str) -> str | None:
    """``C01`` for ``C01``/``c1``/``C1``; ``None`` for anything that is not C1..C23."""
    m = _CATEGORY_NAME.match(name.strip())
    if not m or not 1 <= int(m.group(1)) <= NUM_CATEGORIES:
        return None
    return f"C{int(m.group(1)):02d}"


def _fingerprint(loader: Loader, options: LoaderOptions, checksum: str) -> str:
    return source_fingerprint(loader, options, checksum)


def _dataset_name(source: str) -> str:
    return source if source.lower().startswith("ohsumed") else f"ohsumed-{source}"


def _labels_dict(tasks: list[TaskInfo], y: np.ndarray) -> dict[str, np.ndarray]:
    return {t.name: y[:, i].astype(np.int64) for i, t in enumerate(tasks)}


def _split_summary(split: np.ndarray, y: np.ndarray, tasks: list[TaskInfo]) -> dict:
    return {
        s: {"size": int((split == s).sum()), "positives": {t.name: int(y[split == s, i].sum()) for i, t in enumerate(tasks)}}
        for s in ("train", "val", "test")
    }


# ---------------------------------------------------------------- ARFF


class OhsumedArffOptions(LoaderOptions):
    path: str = Field(description="the MEKA/MULAN ARFF file (.arff or .arff.gz); ~, $VAR and ${VAR} are expanded")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share of all documents carved out as the test split")
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="share of the remaining documents carved out as the val split")
    stratification_order: Literal[1, 2] = Field(
        1, description="1: iterative stratification on labels; 2: on labels and label pairs"
    )
    seed: int = Field(0, description="seed of the split")


def _arff_path(path: str) -> Path:
    return arff_path(path, "OHSUMED ARFF file")


@register
class OhsumedArffLoader(Loader):
    name = "ohsumed_arff"
    version = 1
    Options = OhsumedArffOptions

    def _label_columns(self, header) -> dict[str, int]:
        """Category code -> attribute index of its label, checked against the header."""
        where = header.path
        out: dict[str, int] = {}
        for i in header.label_indices():
            attr = header.attributes[i]
            code = category_code(attr.name)
            if code is None:
                raise DataError(f"{where}: label attribute {attr.name!r} (index {i}) is not an OHSUMED category (C01..C23)")
            if code in out:
                raise DataError(f"{where}: category {code} is declared twice (attributes {out[code]} and {i})")
            if attr.type != "nominal" or set(attr.values) != {"0", "1"}:
                raise DataError(
                    f"{where}: label attribute {attr.name!r} must be declared {{0,1}}, found {attr.type} {attr.values or ''}"
                )
            out[code] = i
        missing = [f"C{k:02d}" for k in range(1, NUM_CATEGORIES + 1) if f"C{k:02d}" not in out]
        if missing:
            raise DataError(f"{where}: the MEKA labels lack categories {', '.join(missing)} (OHSUMED has C01..C23)")
        return out

    def tasks(self, options: OhsumedArffOptions) -> list[TaskInfo]:
        path = _arff_path(options.path)
        self._label_columns(read_header(path))  # only the header is read
        return category_tasks()

    def fingerprint(self, options: OhsumedArffOptions) -> str:
        return _fingerprint(self, options, file_sha256(_arff_path(options.path)))

    def build(self, options: OhsumedArffOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        path = _arff_path(options.path)
        where = str(path)
        data = read_arff(path)
        header = data.header
        label_cols = self._label_columns(header)
        tasks = category_tasks()
        x, columns, feature_names = features_and_labels(data, [label_cols[t.name] for t in tasks], where)
        # a label attribute may be spelt c1 or C1: its task is named by its code
        columns = [replace(c, name=t.name) for c, t in zip(columns, tasks)]
        split = carve_splits_for(columns, options)
        try:  # warns of rare categories; one with no positive in a split is only a warning here (all 23 are kept)
            check_positives(columns, split, where, min_positives=MIN_POSITIVES, drop_rare=False)
        except DataError as e:
            log.warning(
                "%s. (ohsumed_arff keeps all 23 categories; the generic loader arff with labels: and drop_rare can leave some out)",
                e,
            )
        descriptions = {t.name: TaskDescription(title=t.title, description=t.description) for t in tasks}
        name = _dataset_name(path.name.split(".")[0])
        return arff_table(self.name, options, data, x, columns, feature_names, split, descriptions, fingerprint, name)


# ---------------------------------------------------------------- Joachims' folders


class OhsumedFoldersOptions(TextSourceOptions):
    path: str = Field(
        description="a folder or .tar(.gz) archive in Joachims' layout {training,test}/Cxx/<docid>; ~, $VAR and ${VAR} are expanded"
    )
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="share of the training documents carved out as the val split")
    test_fraction: float = Field(
        0.2, gt=0.0, lt=1.0, description="only for a layout with no training/test folders: share carved out as test"
    )


def _document_text(content: bytes, where: str) -> str:
    """The text of one document file: UTF-8 (ASCII in the real data), not empty."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as e:
        line = content[: e.start].count(b"\n") + 1
        raise DataError(
            f"{where}:{line}: not a UTF-8 text file (byte {content[e.start : e.start + 1]!r} at offset {e.start} "
            f"is not UTF-8; a corrupt or binary file?)"
        ) from None
    if not text.strip():
        raise DataError(
            f"{where}: the document is empty" + (" (only whitespace)" if text else "") + " (a truncated or corrupt source?)"
        )
    return text


def read_joachims(path: Path) -> tuple[list[str], list[str], list[str], list[set[str]], bool]:
    """Documents of Joachims' layout: ids, official split (``train``/``test``, or ``""`` if none), texts, category sets.

    The last value says whether the layout had training/test folders. Files
    outside ``[prefix/][training|test/]Cxx/<docid>`` and hidden files are ignored.
    A document file must be UTF-8 text (the real data are ASCII) and not empty
    or only whitespace; otherwise it is a DataError naming the file (its path in
    the folder or archive).
    """
    docs: dict[str, dict] = {}
    roots: set[tuple[str, ...]] = set()
    with_split: set[bool] = set()
    for parts, content in iter_files(path, "in Joachims' layout {training,test}/Cxx/<docid>"):
        if len(parts) < 2 or parts[-1].startswith(".") or not re.fullmatch(r"C\d\d", parts[-2], re.IGNORECASE):
            continue
        where = f"{path}: {'/'.join(parts)}"
        code = category_code(parts[-2])
        if code is None:
            raise DataError(f"{where}: category folder {parts[-2]!r} is not an OHSUMED category (C01..C23)")
        split_dir = parts[-3].lower() if len(parts) >= 3 else ""
        if split_dir in ("training", "train", "test"):
            split, root = ("test" if split_dir == "test" else "train"), parts[:-3]
        else:
            split, root = "", parts[:-2]
        roots.add(root)
        with_split.add(bool(split))
        if len(roots) > 1 or len(with_split) > 1:
            raise DataError(
                f"{path}: more than one OHSUMED layout in the source (document folders under {sorted('/'.join(r) or '.' for r in roots)}, "
                f"{'with and without' if len(with_split) > 1 else 'all'} training/test folders)"
            )
        doc_id = parts[-1]
        text = _document_text(content, where)
        seen = docs.get(doc_id)
        if seen is None:
            docs[doc_id] = {"split": split, "text": text, "labels": {code}, "where": where}
            continue
        if seen["split"] != split:
            raise DataError(f"{where}: document {doc_id} is in both the training and the test split (also {seen['where']})")
        if seen["text"].strip() != text.strip():
            raise DataError(
                f"{where}: document {doc_id} differs from its copy {seen['where']} (a document under several categories must be the same file)"
            )
        seen["labels"].add(code)
    if not docs:
        raise DataError(f"{path}: no documents in Joachims' layout {{training,test}}/Cxx/<docid> (nor Cxx/<docid>)")
    order = sorted(docs, key=lambda d: (docs[d]["split"] != "train", d))
    has_split = with_split == {True}
    if has_split and not any(docs[d]["split"] == "train" for d in order):
        raise DataError(f"{path}: no documents under training/")
    return (
        order,
        [docs[d]["split"] for d in order],
        [docs[d]["text"] for d in order],
        [docs[d]["labels"] for d in order],
        has_split,
    )


@register
class OhsumedFoldersLoader(Loader):
    name = "ohsumed_folders"
    version = 2  # 2: a truncated archive, an empty or a non-UTF-8 document is an error (a table built from one is rebuilt)
    Options = OhsumedFoldersOptions

    def tasks(self, options: OhsumedFoldersOptions) -> list[TaskInfo]:
        resolve_path(options.path, "OHSUMED folder")
        return category_tasks()

    def fingerprint(self, options: OhsumedFoldersOptions) -> str:
        return _fingerprint(self, options, source_checksum(resolve_path(options.path, "OHSUMED folder")))

    def build(self, options: OhsumedFoldersOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        path = resolve_path(options.path, "OHSUMED folder")
        ids, official, texts, label_sets, has_split = read_joachims(path)
        tasks = category_tasks()
        y = np.array([[t.name in labels for t in tasks] for labels in label_sets], dtype=np.int64)
        official = np.array(official, dtype=object)
        split = np.empty(len(ids), dtype=object)
        if has_split:
            split[official == "test"] = "test"
            train = np.flatnonzero(official == "train")
            split[train] = stratified_splits(
                y[train],
                val_fraction=options.val_fraction,
                test_fraction=None,
                seed=options.seed,
                order=options.stratification_order,
            )
        else:
            split[:] = stratified_splits(
                y,
                val_fraction=options.val_fraction,
                test_fraction=options.test_fraction,
                seed=options.seed,
                order=options.stratification_order,
            )

        x, vocabulary = bag_of_words_features(
            texts,
            split == "train",
            vocab_size=options.vocab_size,
            weighting=options.weighting,
            stop_words=options.stop_words,
            where=path,
        )

        source_name = strip_archive_suffix(path.name)
        info = DatasetInfo(
            name=_dataset_name(source_name),
            tasks=tuple(tasks),
            input_column="x",
            input_dim=len(vocabulary),
            fingerprint=fingerprint,
            extra={
                "loader": self.name,
                "source": options.path,
                "text_column": "text",
                "vocabulary": vocabulary,
                "weighting": options.weighting,
                "split_method": ("official training/test folders; val" if has_split else "train/val/test")
                + f" carved by iterative stratification (order {options.stratification_order}), seed {options.seed}",
                "splits": _split_summary(split, y, tasks),
            },
        )
        table = build_table(
            info, ids, split.tolist(), x, _labels_dict(tasks, y), extra_columns={"text": pa.array(texts, type=pa.string())}
        )
        return info, table
