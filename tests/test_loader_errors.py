"""Loader error audit: an empty, truncated or wrongly formatted source file is a DataError naming the file
(and the line, for line-based formats), and a failed ``prepare`` leaves nothing half-written in the cache.

Complements the format tests of test_ohsumed.py, test_openi.py, test_icbhi.py and test_audio.py with the
cases they did not cover; each loader is driven through its public entry points (``tasks``/``build`` or
``prepare``) where that is where a user meets the error.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from test_icbhi import make_icbhi
from test_openi import report_xml, write_xml_folder

from mtlsearch.data import icbhi_files as icbhi
from mtlsearch.data.arff import read_arff, read_header
from mtlsearch.data.icbhi import IcbhiOptions
from mtlsearch.data.ohsumed import OhsumedArffOptions, OhsumedFoldersOptions
from mtlsearch.data.openi import OpenICsvOptions, OpenIXmlOptions
from mtlsearch.data.registry import get_loader, prepare
from mtlsearch.errors import DataError

CODES = [f"C{i:02d}" for i in range(1, 24)]
ARFF_HEADER = (
    "@relation 'x: -C 23'\n"
    + "".join(f"@attribute {c} {{0,1}}\n" for c in CODES)
    + "@attribute w1 numeric\n@attribute w2 numeric\n@data\n"
)
ARFF_ROWS = "".join(f"{{{i % 23} 1,23 {i + 1}}}\n" for i in range(60))
CSV_HEADER = "uid,Problems,findings,impression\n"
CSV_ROWS = "".join(f"{i},{'Cardiomegaly' if i % 2 else 'Opacity'},finding number {i},impression {i}\n" for i in range(1, 9))


def _raises(fn, *args, match: str) -> str:
    with pytest.raises(DataError, match=match) as e:
        fn(*args)
    assert e.value.exit_code == 2
    return str(e.value)


# ---------------------------------------------------------------- ARFF (ohsumed_arff)


def test_arff_empty_file_says_so(tmp_path):
    p = tmp_path / "empty.arff"
    p.write_text("")
    _raises(read_arff, p, match=rf"{p}: the file is empty")
    _raises(get_loader("ohsumed_arff").tasks, OhsumedArffOptions(path=str(p)), match=rf"{p}: the file is empty")
    p.write_text("% only a comment\n\n")
    _raises(read_header, p, match=rf"{p}: the file is empty")
    gz = tmp_path / "empty.arff.gz"
    gz.write_bytes(gzip.compress(b""))
    _raises(read_arff, gz, match=rf"{gz}: the file is empty")


def test_arff_truncated_in_the_header_names_the_last_line(tmp_path):
    p = tmp_path / "cut.arff"
    p.write_text(ARFF_HEADER.split("@attribute w2")[0])  # cut after line 25, before @data
    _raises(read_arff, p, match=rf"{p}: no @data line \(the file ends in its header after line 25: truncated")
    p.write_text(ARFF_HEADER.split("@attribute w2")[0] + "@attribute w2")  # cut inside a declaration
    _raises(read_header, p, match=rf"{p}:26: attribute 'w2' has type '\(none\)'")


def test_arff_truncated_row_through_the_loader(tmp_path):
    p = tmp_path / "cut.arff"
    text = ARFF_HEADER + ARFF_ROWS
    p.write_text(text[: len(text) - 5])  # the last row loses its closing '}'
    header_lines = ARFF_HEADER.count("\n")
    _raises(
        get_loader("ohsumed_arff").build,
        OhsumedArffOptions(path=str(p)),
        "fp",
        match=rf"{p}:{header_lines + 60}: sparse row does not end with '}}' \(truncated row\?\)",
    )


def test_arff_truncated_gzip_names_the_line_it_stopped_at(tmp_path):
    data = gzip.compress((ARFF_HEADER + ARFF_ROWS * 50).encode())
    p = tmp_path / "cut.arff.gz"
    p.write_bytes(data[: len(data) // 2])
    msg = _raises(
        read_arff, p, match=rf"{p}:\d+: cannot read past line \d+ \(Compressed file ended before the end-of-stream marker"
    )
    assert "truncated file?" in msg
    p.write_bytes(b"not gzip at all")
    _raises(read_arff, p, match=rf"{p}: cannot read \(Not a gzipped file")


def test_arff_wrongly_formatted_header_lines(tmp_path):
    p = tmp_path / "bad.arff"
    p.write_text(ARFF_HEADER.replace("@attribute w2", "@attribute C05") + "{0 1}\n")
    _raises(read_arff, p, match=rf"{p}:26: attribute 'C05' is declared twice \(also on line 6\)")
    p.write_text("@relation\n@attribute a numeric\n@data\n1\n")
    _raises(read_arff, p, match=rf"{p}:1: @relation without a name")
    p.write_text("@relation x\n@attribute a string\n@data\n")
    _raises(read_arff, p, match=rf"{p}:2: attribute 'a' has type 'string'")
    p.write_text("@relation x\n@atribute a numeric\n@data\n")
    _raises(read_arff, p, match=rf"{p}:2: expected @relation, @attribute or @data, found '@atribute a numeric'")


def test_arff_byte_order_mark_is_skipped(tmp_path):
    p = tmp_path / "bom.arff"
    p.write_bytes(b"\xef\xbb\xbf" + (ARFF_HEADER + "{0 1,23 2}\n").encode())
    data = read_arff(p)
    assert data.num_rows == 1 and data.header.relation == "x: -C 23"


# ---------------------------------------------------------------- Joachims' folders (ohsumed_folders)


def _joachims_archive(tmp_path: Path) -> bytes:
    root = tmp_path / "src"
    for split, doc, code in (("training", "0001", "C01"), ("training", "0002", "C02"), ("test", "0003", "C01")):
        (root / split / code).mkdir(parents=True, exist_ok=True)
        (root / split / code / doc).write_text(f"heart disease document {doc} " * 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(root, arcname="ohsumed")
    return buf.getvalue()


def test_ohsumed_folders_empty_and_truncated_archives_name_the_file(tmp_path):
    loader = get_loader("ohsumed_folders")
    empty = tmp_path / "empty.tar.gz"
    empty.write_bytes(b"")
    _raises(loader.build, OhsumedFoldersOptions(path=str(empty)), "fp", match=rf"{empty}: cannot read the archive \(empty file\)")
    data = _joachims_archive(tmp_path)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    _raises(loader.build, OhsumedFoldersOptions(path=str(cut)), "fp", match=rf"{cut}: truncated archive \(Compressed file ended")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive " * 40)
    _raises(loader.build, OhsumedFoldersOptions(path=str(junk)), "fp", match=rf"{junk}: cannot read the archive \(invalid header")


@pytest.mark.parametrize("cut", [8, 4, 1])
def test_ohsumed_folders_archive_without_its_gzip_trailer_is_an_error(tmp_path, cut):
    data = _joachims_archive(tmp_path)
    short = tmp_path / "cut.tar.gz"
    short.write_bytes(data[:-cut])  # every member is complete; (part of) the CRC and size are gone
    _raises(
        get_loader("ohsumed_folders").build,
        OhsumedFoldersOptions(path=str(short)),
        "fp",
        match=rf"{short}: truncated archive \(Compressed file ended before the end-of-stream marker",
    )


def test_ohsumed_folders_archive_with_a_bad_gzip_checksum_is_an_error(tmp_path):
    data = bytearray(_joachims_archive(tmp_path))
    data[-6] ^= 0xFF  # the CRC of the trailer
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    _raises(
        get_loader("ohsumed_folders").build,
        OhsumedFoldersOptions(path=str(bad)),
        "fp",
        match=rf"{bad}: cannot read the archive \(CRC check failed",
    )


def _tar_bytes(tmp_path: Path, mode: str) -> tuple[bytes, list[tuple[int, int]]]:
    """The Joachims fixture as a tar archive (``mode`` picks the compression) and the offsets of its members' headers and data."""
    buf = io.BytesIO()

    def with_pax_header(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.pax_headers = {"comment": "a pax extended header before each member"}
        return info

    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as tar:
        tar.add(tmp_path / "src", arcname="ohsumed", filter=with_pax_header)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        offsets = [(m.offset, m.offset_data) for m in tar.getmembers()]
    return buf.getvalue(), offsets


@pytest.mark.parametrize("mode, suffix", [("w", ".tar"), ("w:gz", ".tgz"), ("w:bz2", ".tar.bz2"), ("w:xz", ".tar.xz")])
def test_ohsumed_folders_whole_archives_load(tmp_path, mode, suffix):
    _joachims_archive(tmp_path)
    data, _ = _tar_bytes(tmp_path, mode)
    p = tmp_path / f"ohsumed{suffix}"
    p.write_bytes(data + (b"\0" * 100 if mode == "w:gz" else b""))  # zero padding after a gzip stream is allowed
    info, table = get_loader("ohsumed_folders").build(OhsumedFoldersOptions(path=str(p), vocab_size=5), "fp")
    assert sorted(table.column("id").to_pylist()) == ["0001", "0002", "0003"]


@pytest.mark.parametrize("mode, suffix", [("w", ".tar"), ("w:gz", ".tar.gz")])
def test_ohsumed_folders_tar_cut_between_or_inside_members_is_an_error(tmp_path, mode, suffix):
    """tarfile ends a streamed archive quietly at a missing or short header after the first member: the loader does not."""
    _joachims_archive(tmp_path)
    plain, offsets = _tar_bytes(tmp_path, "w")
    last, last_data = offsets[-1]  # the last document (its pax header, header, data): every member before it is whole
    compress = gzip.compress if mode == "w:gz" else (lambda b: b)
    loader = get_loader("ohsumed_folders")
    p = tmp_path / f"cut{suffix}"
    for data, match in (
        (plain[:last], r"the data stop there"),
        (plain[: last + 100], r"100 bytes of a header"),
        (plain[:last] + b"garbage" * 100, r"an unreadable header"),
        (plain[: last_data - 100], r"a header is cut short"),
        (plain[: last_data + 100], r"a member is cut short"),
    ):
        p.write_bytes(compress(data))
        _raises(loader.build, OhsumedFoldersOptions(path=str(p)), "fp", match=rf"{p}: truncated archive \(.*{match}")


def _joachims_folder(tmp_path: Path) -> Path:
    _joachims_archive(tmp_path)
    return tmp_path / "src"


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", r"the document is empty \(a truncated"),
        (b" \n\t\n", r"the document is empty \(only whitespace\)"),
    ],
)
def test_ohsumed_folders_empty_document_names_the_file(tmp_path, content, match):
    root = _joachims_folder(tmp_path)
    (root / "training" / "C02" / "0002").write_bytes(content)
    _raises(
        get_loader("ohsumed_folders").build,
        OhsumedFoldersOptions(path=str(root)),
        "fp",
        match=rf"{root}: training/C02/0002: {match}",
    )


def test_ohsumed_folders_non_utf8_document_names_the_file_and_line(tmp_path):
    root = _joachims_folder(tmp_path)
    (root / "test" / "C01" / "0003").write_bytes(b"Heart disease.\nCaf\xe9 au lait spots.\n")  # latin-1, not UTF-8
    _raises(
        get_loader("ohsumed_folders").build,
        OhsumedFoldersOptions(path=str(root)),
        "fp",
        match=rf"{root}: test/C01/0003:2: not a UTF-8 text file \(byte b'\\xe9' at offset 18",
    )
    archive = tmp_path / "ohsumed.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="ohsumed")
    _raises(
        get_loader("ohsumed_folders").build,
        OhsumedFoldersOptions(path=str(archive)),
        "fp",
        match=rf"{archive}: ohsumed/test/C01/0003:2: not a UTF-8 text file",
    )


# ---------------------------------------------------------------- Open-I CSV and XML


@pytest.mark.parametrize(
    "content, match",
    [
        ("", r"{p}: the file is empty"),
        (
            CSV_HEADER + CSV_ROWS + '9,normal,"the report is cut in a quoted',
            r"{p}:10: malformed CSV \(unexpected end of data\): a quoted field is not closed",
        ),
        (CSV_HEADER + CSV_ROWS + '9,normal,"the report\nis cut in a quoted', r"{p}:10: malformed CSV \(unexpected end of data\)"),
        (CSV_HEADER + CSV_ROWS + "9,normal,cut in a ro", r"{p}:10: 3 fields, the header has 4"),
        (
            CSV_HEADER + CSV_ROWS.replace("finding number 4", '"finding" number 4'),
            r"{p}:5: malformed CSV \(',' expected after '\"'\)",
        ),
        ('uid,Problems,"findings,impression\n1,a,b,c\n', r"{p}:1: malformed CSV header"),
    ],
)
def test_openi_csv_empty_truncated_and_malformed(tmp_path, content, match):
    p = tmp_path / "reports.csv"
    p.write_text(content)
    _raises(get_loader("openi_csv").tasks, OpenICsvOptions(path=str(p), top_k=1), match=match.format(p=p))


def test_openi_csv_quotes_inside_an_unquoted_field_are_text(tmp_path):
    p = tmp_path / "reports.csv"
    p.write_text(CSV_HEADER + CSV_ROWS.replace("finding number 4", 'finding "number" 4'))
    assert [t.name for t in get_loader("openi_csv").tasks(OpenICsvOptions(path=str(p), top_k=2))] == ["Cardiomegaly", "Opacity"]


def test_openi_projections_truncated(tmp_path):
    p = tmp_path / "reports.csv"
    p.write_text(CSV_HEADER + CSV_ROWS)
    proj = tmp_path / "indiana_projections.csv"
    proj.write_text("uid,filename,projection\n1,1.png,Frontal\n2,2.png")
    _raises(
        get_loader("openi_csv").build, OpenICsvOptions(path=str(p), top_k=1), "fp", match=rf"{proj}:3: 2 fields, the header has 3"
    )


def test_openi_xml_truncated_report_names_the_file_and_line(tmp_path):
    root = write_xml_folder(tmp_path / "xml")
    xml = report_xml("7", ["Cardiomegaly"], "Big heart.", "Cardiomegaly.")
    cut = xml[: xml.index("<MeSH>")]
    (root / "ecgen-radiology" / "7.xml").write_text(cut)
    _raises(
        get_loader("openi_xml").tasks,
        OpenIXmlOptions(path=str(root), top_k=1),
        match=rf"{root / 'ecgen-radiology' / '7.xml'}:{cut.count(chr(10)) + 1}: malformed XML \(no element found",
    )


# ---------------------------------------------------------------- ICBHI


def test_icbhi_non_utf8_annotation_names_the_line(tmp_path):
    p = tmp_path / "101_1b1_Al_sc_Meditron.txt"
    p.write_bytes(b"0.1\t0.5\t0\t0\n0.5\t1.0\t0\t0\n1.0\t1\xff\t0\t0\n")
    _raises(icbhi.read_annotation_file, p, match=rf"{p}:3: not a text file \(byte b'\\xff' is not UTF-8")


@pytest.mark.parametrize(
    "reader, content, match",
    [
        (icbhi.read_diagnoses, "", r"{p}: the diagnosis file lists no patients"),
        (icbhi.read_diagnoses, "ID,CLASS\n", r"{p}: the diagnosis file lists no patients"),
        (icbhi.read_diagnoses, "101\tURTI\n102\tHealthy\n101\tCOPD\n", r"{p}:3: patient 101 is listed twice \(also on line 1\)"),
        (icbhi.read_diagnoses, "101\tURTI\n102", r"{p}:2: expected '<patient> <diagnosis>', found '102'"),
        (icbhi.read_demographics, "\n\n", r"{p}: the demographics file lists no patients"),
        (
            icbhi.read_demographics,
            "101 3 F NA 19 99\n101 3 F NA 19 99\n",
            r"{p}:2: patient 101 is listed twice \(also on line 1\)",
        ),
        (icbhi.read_demographics, "101 3 F NA 19 99\n102 0.7", r"{p}:2: expected '<patient> <age> <sex> ...', found '102 0.7'"),
        (
            icbhi.read_official_split,
            "101_1b1_Al_sc_Meditron\ttest\n102_1b1_Ar_sc_Med",
            r"{p}:2: expected '<recording> train\|test'",
        ),
        (icbhi.read_filename_differences, "", r"{p}: the file lists no recording names"),
        (
            icbhi.read_filename_differences,
            "'101_1b1_Al_sc_AKGC417L'\n'102_1b1_Ar_s",
            r"{p}:2: unknown ICBHI file name format '102_1b1_Ar_s'",
        ),
    ],
)
def test_icbhi_meta_files_empty_truncated_and_malformed(tmp_path, reader, content, match):
    p = tmp_path / "meta.txt"
    p.write_text(content)
    _raises(reader, p, match=match.format(p=p))


def test_icbhi_empty_meta_file_through_the_loader(tmp_path):
    src = make_icbhi(tmp_path / "icbhi")
    demographics = src / "meta" / "demographic_info.txt"
    demographics.write_text("")
    _raises(
        prepare,
        "icbhi",
        IcbhiOptions(path=str(src), audio="none"),
        tmp_path / "cache",
        match=rf"{demographics}: the demographics file lists no patients",
    )


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", r"truncated WAV file: 0 bytes, shorter than a RIFF header"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", r"truncated WAV file: no data chunk"),
        (b"this is not audio at all, just text in a .wav file", r"cannot read the audio file"),
    ],
)
def test_icbhi_bad_wav_through_the_loader(tmp_path, content, match):
    src = make_icbhi(tmp_path / "icbhi")
    wav = src / "wav" / "103_2b2_Ar_mc_LittC2SE.wav"
    wav.write_bytes(content)
    _raises(
        prepare,
        "icbhi",
        IcbhiOptions(path=str(src), audio="required", num_mel_bins=16, cycle_seconds=1.0),
        tmp_path / "cache",
        match=rf"{wav}: {match}",
    )


# ---------------------------------------------------------------- the cache


def _cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_failed_prepare_leaves_the_cache_as_it_was(tmp_path):
    cache = tmp_path / "cache"
    good = tmp_path / "good.csv"
    good.write_text(CSV_HEADER + CSV_ROWS)
    table = prepare("openi_csv", OpenICsvOptions(path=str(good), top_k=2), cache)
    before = _cache_files(cache)
    content, mtime = table.read_bytes(), table.stat().st_mtime_ns
    assert before == [str(table.relative_to(cache))]

    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_HEADER + CSV_ROWS + '9,normal,"cut')
    _raises(prepare, "openi_csv", OpenICsvOptions(path=str(bad), top_k=2), cache, match=rf"{bad}:10: malformed CSV")
    arff = tmp_path / "bad.arff"
    arff.write_text(ARFF_HEADER + ARFF_ROWS[:-3])
    _raises(prepare, "ohsumed_arff", OhsumedArffOptions(path=str(arff)), cache, match=rf"{arff}:\d+: sparse row does not end")
    assert _cache_files(cache) == before  # no table, no temporary file, nothing else
    assert sorted(p.name for p in cache.iterdir()) == [table.parent.name]
    assert table.read_bytes() == content and table.stat().st_mtime_ns == mtime
    assert prepare("openi_csv", OpenICsvOptions(path=str(good), top_k=2), cache) == table  # still reused


class _FailingMove:
    """A local filesystem whose final rename fails (a disk full or a crash between writing and renaming)."""

    type_name = "local"

    def __init__(self):
        self._fs = pafs.LocalFileSystem()

    def __getattr__(self, name):
        return getattr(self._fs, name)

    def move(self, src, dest):
        raise OSError("simulated failure while moving the table into place")


def test_failed_table_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    import mtlsearch.store.atomic as atomic

    cache = tmp_path / "cache"
    src = tmp_path / "reports.csv"
    src.write_text(CSV_HEADER + CSV_ROWS)
    monkeypatch.setattr(atomic, "resolve", lambda uri: (_FailingMove(), str(Path(uri).resolve())))
    with pytest.raises(OSError, match="simulated failure"):
        prepare("openi_csv", OpenICsvOptions(path=str(src), top_k=2), cache)
    assert _cache_files(cache) == []
    monkeypatch.undo()
    table = prepare("openi_csv", OpenICsvOptions(path=str(src), top_k=2), cache)
    assert _cache_files(cache) == [str(table.relative_to(cache))]
