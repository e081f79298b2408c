"""Archived sources: ``icbhi`` reads a .zip or .tar.gz of its layout, unpacked once into the user cache."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_icbhi import build, make_icbhi

from mtlsearch.data import unpack
from mtlsearch.errors import DataError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _zip_folder(folder: Path, archive: Path, top: str | None) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                rel = p.relative_to(folder).as_posix()
                zf.write(p, f"{top}/{rel}" if top else rel)
    return archive


def _same_tables(a, b) -> None:
    for column in ("id", "split", "recording", "lung_sound", "diagnosis", "sex", "device"):
        assert a.column(column).to_pylist() == b.column(column).to_pylist(), column
    xa = np.asarray(a.column("x").combine_chunks().values)
    assert np.array_equal(xa, np.asarray(b.column("x").combine_chunks().values))


def test_the_challenge_zip_layout_reads_like_the_folder(tmp_path):
    """ICBHI_final_database.zip: one top folder, .txt and .wav side by side; metadata given as an absolute folder."""
    flat = make_icbhi(tmp_path / "flat", flat=True)
    meta = tmp_path / "meta"
    meta.mkdir()
    for p in flat.glob("*.txt"):
        if not p.stem[0].isdigit():  # official_split.txt, demographic_info.txt, ...: outside the archive
            p.rename(meta / p.name)
    for p in flat.glob("*.csv"):
        p.rename(meta / p.name)
    archive = _zip_folder(flat, tmp_path / "ICBHI_final_database.zip", top="ICBHI_final_database")

    _, from_zip, _ = build(archive, tmp_path / "c1", audio="optional", meta_dir=str(meta))
    _, from_folder, _ = build(flat, tmp_path / "c2", audio="optional", meta_dir=str(meta))
    _same_tables(from_zip, from_folder)
    assert from_zip.num_rows > 0
    (unpacked,) = (tmp_path / "xdg" / "mtlsearch" / "extracted").iterdir()
    assert unpacked.name.startswith("ICBHI_final_database-") and (unpacked / "ICBHI_final_database").is_dir()


def test_a_tar_gz_of_the_folder_layout(tmp_path):
    source = make_icbhi(tmp_path / "icbhi")
    archive = tmp_path / "icbhi.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="icbhi")
    _, from_tar, _ = build(archive, tmp_path / "c1", audio="optional")
    _, from_folder, _ = build(source, tmp_path / "c2", audio="optional")
    _same_tables(from_tar, from_folder)


def test_an_archive_is_unpacked_once(tmp_path, monkeypatch):
    archive = _zip_folder(make_icbhi(tmp_path / "icbhi"), tmp_path / "icbhi.zip", top=None)
    first = unpack.unpacked_folder(archive)
    monkeypatch.setattr(unpack, "_extract", lambda *a: pytest.fail("unpacked a second time"))
    assert unpack.unpacked_folder(archive) == first and (first / "annotations").is_dir()


def test_a_truncated_zip_is_an_error_and_leaves_nothing(tmp_path):
    archive = _zip_folder(make_icbhi(tmp_path / "icbhi"), tmp_path / "icbhi.zip", top="icbhi")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])  # the download stopped half way
    with pytest.raises(DataError, match=r"icbhi\.zip: not a readable zip archive, or truncated"):
        build(archive, tmp_path / "c", audio="optional")
    assert not any((tmp_path / "xdg" / "mtlsearch" / "extracted").iterdir())  # no half-unpacked folder left


def test_a_corrupt_member_is_an_error(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("icbhi/annotations/101_1b1_Al_sc_Meditron.txt", "0.1\t1.0\t0\t0\n" * 50)
    data = bytearray(archive.read_bytes())
    at = data.index(b"0.1\t1.0")
    data[at : at + 3] = b"9.9"  # the bytes no longer match the member's CRC
    archive.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"bad\.zip: not a readable zip archive, or truncated \(Bad CRC-32"):
        unpack.unpacked_folder(archive)


def test_members_outside_the_folder_are_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("icbhi/ok.txt", "x")
        zf.writestr("../../outside.txt", "x")
    with pytest.raises(DataError, match=r"evil\.zip: member '\.\./\.\./outside\.txt' would be written outside"):
        unpack.unpacked_folder(archive)
    assert not (tmp_path / "outside.txt").exists()


def test_a_file_that_is_no_archive_is_named(tmp_path):
    not_a_folder = tmp_path / "icbhi.txt"
    not_a_folder.write_text("hello")
    with pytest.raises(DataError, match=r"is neither a folder nor a \.zip/\.tar\(\.gz\) archive"):
        build(not_a_folder, tmp_path / "c", audio="optional")
