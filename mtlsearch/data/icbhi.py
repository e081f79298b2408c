"""ICBHI 2017 respiratory sound database: one example per annotated breathing cycle.

Source layout (``path`` may use ``~``, ``$VAR`` and ``${VAR}``)
    ``annotations_dir``: one ``<stem>.txt`` per recording, a line
    ``start end crackle wheeze`` per breathing cycle (seconds, 0/1 flags,
    tab- or space-separated); ``<stem>`` is
    ``patient_recordingindex_chestlocation_acquisitionmode_device`` (e.g.
    ``101_1b1_Al_sc_Meditron``). ``audio_dir``: ``<stem>.wav``. ``meta_dir``:
    ``official_split.txt`` (``<stem> train|test``), ``patient_diagnosis.txt``
    (or ``.csv``), ``demographic_info.txt`` (``patient age sex adult_BMI
    child_weight child_height``, ``NA`` for missing) and, optionally,
    ``filename_differences.txt``. By default the three folders are
    ``<path>/annotations``, ``<path>/wav`` and ``<path>/meta`` where these
    exist, else ``path`` itself (the challenge zip keeps ``.wav`` and ``.txt``
    side by side); a relative folder option is taken relative to ``path``.
    ``path`` may also be a ``.zip`` or ``.tar(.gz)`` archive of that layout
    (the challenge's ``ICBHI_final_database.zip``): it is unpacked once into
    the user cache (:mod:`mtlsearch.data.unpack`) and read from there, and
    relative folder options are then taken inside the unpacked folder, so give
    ``meta_dir`` as an absolute path (or ``${VAR}/...``) when the metadata
    files are outside the archive.

File names and device labels
    Recordings are keyed by ``patient_index_location_mode`` (unique in ICBHI).
    The name listed in the official split file is the recording's canonical
    name: 91 recordings were distributed under another device suffix too
    (``filename_differences.txt`` lists those names, e.g.
    ``226_1b1_Al_sc_LittC2SE`` for ``226_1b1_Al_sc_Meditron``, the name the
    split file uses). An annotation or WAV file under either name is matched
    to its recording, and the ``device`` label always comes from the canonical
    name.

Examples
    Each cycle is cut from its recording after resampling to ``sample_rate``
    (16 kHz) and brought to ``cycle_seconds`` (8 s): longer cycles keep their
    first 8 s; shorter ones are padded by ``padding``: ``repeat`` (default) tiles
    the cycle and fades out the last 1/16 s linearly, as the patch-mix / SG-SCL
    code that Tri-MTL follows does ("all recordings standardized to 8 s at 16 kHz"
    in the paper); ``zero`` appends zeros at the end. The input column ``x`` holds
    the Kaldi log-mel filterbanks (:func:`mtlsearch.data.audio.kaldi_fbank`: 25 ms
    windows every 10 ms, ``num_mel_bins`` = 128, as AST expects), frames × mel
    bins flattened row-major (798 × 128 for 8 s), scaled with AST's statistics
    when ``normalization`` is ``ast``. ``info.extra["feature_shape"]`` gives
    the shape. ``clinical`` (a list of patient/recording fields, default unset) adds a
    tabular input ``clinical`` (:mod:`mtlsearch.data.icbhi_clinical`: age, sex, BMI,
    child weight and height each as a value and a missing flag, chest location and
    device one-hot); ``info.inputs`` lists ``x`` (spectrogram) and ``clinical``.
    Extra columns: ``recording`` (canonical name), ``patient``,
    ``start`` and ``end`` (seconds).

``audio``
    ``required``: every annotated recording needs its WAV file (a DataError lists
    the missing ones). ``optional``: cycles of recordings with no WAV file are
    dropped, with their count logged and kept in ``info.extra["dropped"]``.
    ``none``: annotations only (counting, metadata): no audio is read, every
    cycle is kept and ``x`` is just ``[start, end, duration]`` in seconds; such
    a table is not meant for training a sound model.

Tasks (labels ``-1`` where unknown)
    ``lung_sound`` (normal / crackle / wheeze / both; ICBHI score), ``disease``
    (healthy / unhealthy; ICBHI score, i.e. the mean of the healthy and unhealthy
    recalls) and ``diagnosis`` (the 8 diagnoses; macro F1) are primary; the
    metadata attributes used by Tri-MTL are auxiliary tasks scored by accuracy:
    ``age_group`` (adult > 18 years / pediatric), ``sex``, ``chest_location``
    (7 positions) and ``device`` (4 stethoscopes/microphones). ``tasks`` keeps a
    subset. The ICBHI score is :func:`icbhi_score`: with class 0 the normal
    (healthy) class, ``Sp`` = the recall of class 0, ``Se`` = the share of the
    other examples predicted as exactly their class, score ``(Sp + Se) / 2``.

Splits
    ``test`` is the official 60/40 split (per recording; patients 156 and 218
    have recordings on both sides). ``val`` is carved from the training split by
    patient: only patients with no test recording are candidates; per diagnosis,
    patients are taken in a seeded order while the val cycles stay within
    ``val_fraction`` of that diagnosis' training cycles (at least one patient
    overall when two or more are candidates). The split is computed over all
    annotated cycles, before any cycle is dropped for missing audio, so it does
    not depend on which WAV files are present.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from mtlsearch.data.audio_options import AudioFeatureOptions, num_frames
from mtlsearch.data.canonical import DatasetInfo, InputInfo, TaskInfo, build_table
from mtlsearch.data.icbhi_clinical import (
    CLINICAL_FIELDS,
    CLINICAL_INPUT,
    clinical_attributes,
    clinical_columns,
    clinical_features,
)
from mtlsearch.data.icbhi_cycles import IcbhiFolders, carve_val, locate, read_cycles
from mtlsearch.data.icbhi_features import annotation_features, audio_features
from mtlsearch.data.icbhi_tasks import LUNG_SOUNDS, TASK_NAMES, all_tasks
from mtlsearch.data.loader import Loader, register
from mtlsearch.data.sources import resolve_path, source_fingerprint
from mtlsearch.metrics.scores import icbhi_score  # noqa: F401  (the ICBHI tasks' metric; re-exported)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- the loader


class IcbhiOptions(AudioFeatureOptions):
    path: str = Field(
        description="the ICBHI folder (annotations, wav and meta sub-folders, or all files in it); ~, $VAR and ${VAR} are expanded"
    )
    annotations_dir: str | None = Field(
        None, description="folder of <stem>.txt annotation files (default <path>/annotations, else <path>)"
    )
    audio_dir: str | None = Field(None, description="folder of <stem>.wav files (default <path>/wav, else the annotation folder)")
    meta_dir: str | None = Field(
        None,
        description="folder of official_split.txt, patient_diagnosis.txt, demographic_info.txt (default <path>/meta, else <path>)",
    )
    audio: Literal["required", "optional", "none"] = Field(
        "required",
        description="required: a recording without a WAV file is an error; optional: its cycles are dropped (logged); none: annotations only, x = [start, end, duration]",
    )
    val_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="share of each diagnosis' training cycles carved out as val, by patient"
    )
    seed: int = Field(0, description="seed of the val carving")
    tasks: list[str] | None = Field(None, description=f"keep only these tasks (default all: {', '.join(TASK_NAMES)})")
    clinical: list[Literal[CLINICAL_FIELDS]] | None = Field(  # type: ignore[valid-type]
        None,
        description=f"write these patient/recording fields as the tabular input 'clinical' ({', '.join(CLINICAL_FIELDS)}; "
        "numbers with a missing flag, see mtlsearch.data.icbhi_clinical); null: no such input",
    )

    @field_validator("clinical")
    @classmethod
    def _clinical(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError(f"expected a non-empty list of distinct fields among {list(CLINICAL_FIELDS)}")
        return v

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        unknown = [t for t in v if t not in TASK_NAMES]
        if unknown:
            raise ValueError(f"unknown ICBHI task(s) {unknown}; the tasks are {list(TASK_NAMES)}")
        if not v or len(set(v)) != len(v):
            raise ValueError("expected a non-empty list of distinct task names")
        return v


def _folders(options: IcbhiOptions) -> IcbhiFolders:
    return locate(options.path, options.annotations_dir, options.audio_dir, options.meta_dir)


def _checksum(folders: IcbhiFolders, audio: str) -> dict:
    """Annotation and metadata files by content; WAV files by name, size and modification time (not read)."""
    h = hashlib.sha256()
    for p in sorted(folders.annotations.glob("*.txt")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    out = {"annotations": h.hexdigest()}
    for kind, p in sorted(folders.meta_files.items()):
        out[kind] = hashlib.sha256(p.read_bytes()).hexdigest() if p is not None else None
    if audio != "none":
        h = hashlib.sha256()
        for p in sorted(folders.audio.iterdir()):
            if p.suffix.lower() == ".wav":
                st = p.stat()
                h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        out["audio"] = h.hexdigest()
    return out


@register
class IcbhiLoader(Loader):
    name = "icbhi"
    version = 1
    Options = IcbhiOptions

    def tasks(self, options: IcbhiOptions) -> list[TaskInfo]:
        resolve_path(options.path, "ICBHI folder")
        keep = options.tasks or TASK_NAMES
        return [t for t in all_tasks() if t.name in keep]

    def fingerprint(self, options: IcbhiOptions) -> str:
        # clinical left out when unset: the fingerprints of specs written before the option stay the same
        drop = ("path", "annotations_dir", "audio_dir", "meta_dir") + (() if options.clinical else ("clinical",))
        return source_fingerprint(self, options, _checksum(_folders(options), options.audio), drop=drop)

    def inputs(self, options: IcbhiOptions) -> tuple[InputInfo, ...]:
        """``x``: the log-mel spectrogram (``audio: none``: 3 tabular numbers), and ``clinical`` when set."""
        if options.audio == "none":
            out = [InputInfo("x", "tabular", (3,), "x")]
        else:
            frames = num_frames(int(round(options.cycle_seconds * options.sample_rate)), options.sample_rate)
            out = [InputInfo("x", "spectrogram", (frames, options.num_mel_bins), "x", description="Kaldi log-mel filterbanks")]
        if options.clinical:
            out.append(
                InputInfo(
                    CLINICAL_INPUT,
                    "tabular",
                    (len(clinical_columns(options.clinical)),),
                    CLINICAL_INPUT,
                    attributes=clinical_attributes(options.clinical),
                    description="patient and recording fields: " + ", ".join(options.clinical),
                )
            )
        return tuple(out)

    def build(self, options: IcbhiOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        t0 = time.perf_counter()
        folders = _folders(options)
        cycles = read_cycles(folders)
        split = carve_val(cycles, options.val_fraction, options.seed)
        features = annotation_features(cycles) if options.audio == "none" else audio_features(cycles, folders.audio, options)
        x, keep, dropped, extra = features.x, features.keep, features.dropped, features.extra

        tasks = [t for t in all_tasks() if t.name in (options.tasks or TASK_NAMES)]
        rows = np.flatnonzero(keep)
        split_kept = split[rows]
        labels = {t.name: cycles.labels[t.name][rows] for t in tasks}
        inputs = {"x": x}
        if options.clinical:
            inputs[CLINICAL_INPUT] = clinical_features(cycles, options.clinical)[rows]
            extra["clinical_columns"] = clinical_columns(options.clinical)
        info = DatasetInfo(
            name="icbhi",
            inputs=self.inputs(options),
            tasks=tuple(tasks),
            input_column="x",
            input_dim=int(x.shape[1]),
            fingerprint=fingerprint,
            extra={
                "loader": self.name,
                "source": options.path,
                "audio": options.audio,
                **extra,
                "dropped": dropped,
                "renamed_recordings": cycles.renamed,
                "split_method": f"official train/test split per recording; val carved from train by patient "
                f"(patients with no test recording, per diagnosis, {options.val_fraction:g} of the cycles), seed {options.seed}",
                "splits": {
                    s: {
                        "cycles": int((split_kept == s).sum()),
                        "patients": sorted(set(cycles.patient[rows][split_kept == s].tolist())),
                        "lung_sound": {
                            c: int(((split_kept == s) & (cycles.labels["lung_sound"][rows] == i)).sum())
                            for i, c in enumerate(LUNG_SOUNDS)
                        },
                    }
                    for s in ("train", "val", "test")
                },
            },
        )
        extra_columns = {
            "recording": pa.array([cycles.recording[i] for i in rows], type=pa.string()),
            "patient": pa.array(cycles.patient[rows].astype(np.int32), type=pa.int32()),
            "start": pa.array(cycles.start[rows].astype(np.float32), type=pa.float32()),
            "end": pa.array(cycles.end[rows].astype(np.float32), type=pa.float32()),
        }
        table = build_table(info, [cycles.ids[i] for i in rows], split_kept.tolist(), inputs, labels, extra_columns=extra_columns)
        log.info(
            "ICBHI: %d cycles (%s) built in %.1f s",
            len(rows),
            ", ".join(f"{k} {v['cycles']}" for k, v in info.extra["splits"].items()),
            time.perf_counter() - t0,
        )
        return info, table
