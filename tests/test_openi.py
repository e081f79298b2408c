"""Open-I loaders: the Indiana reports CSV and NLM's XML reports (fixtures built here), and the real CSV's counts."""

from __future__ import annotations

import csv
import os
import tarfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pyarrow.parquet as pq
import pytest

from mtlsearch.data.canonical import read_info
from mtlsearch.data.inspect import inspect_table
from mtlsearch.data.openi import OpenICsvOptions, OpenIXmlOptions
from mtlsearch.data.openi_labels import task_name
from mtlsearch.data.openi_reports import clean_text, heading
from mtlsearch.data.registry import get_loader, loader_names, prepare
from mtlsearch.data.sources import tokenize
from mtlsearch.errors import DataError

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MTLSEARCH_DATA", REPO.parent / "shared" / "data"))
REAL_CSV = DATA / "openi" / "indiana_reports.csv"
HEADER = ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"]

# pathology words per term, so a report's text says what it is labelled with
WORDS = {
    "Cardiomegaly": "enlarged heart silhouette",
    "Pulmonary Atelectasis": "basilar atelectasis volume loss",
    "Opacity": "patchy opacity airspace",
    "Catheters, Indwelling": "catheter tip projects",
    "Thoracic Vertebrae": "thoracic spine degenerative",
    "Nodule": "small nodule",
}


# ---------------------------------------------------------------- fixtures


def _generated_reports(start: int = 10, n: int = 60) -> list[dict]:
    """``n`` distinct reports: every 4th normal, the others with 1-2 terms of a skewed pool."""
    pool = [
        "Cardiomegaly",
        "Cardiomegaly",
        "Pulmonary Atelectasis",
        "Opacity",
        "Cardiomegaly",
        "Catheters, Indwelling",
        "Opacity",
        "Thoracic Vertebrae",
        "Pulmonary Atelectasis",
        "Nodule",
    ]
    rows = []
    for i in range(start, start + n):
        if i % 4 == 0:
            terms = ["normal"]
        else:
            terms = list(dict.fromkeys([pool[i % len(pool)]] + ([pool[(i * 3) % len(pool)]] if i % 3 == 0 else [])))
        words = " ".join(WORDS.get(t, "no acute cardiopulmonary abnormality") for t in terms)
        rows.append(
            {
                "uid": str(i),
                "terms": terms,
                "findings": f"Report uniq{i}. The XXXX {words}.",
                "impression": f"Impression {i % 5}.",
                "image": "Xray Chest PA and Lateral" if i % 2 else "CHEST 2V FRONTAL/LATERAL XXXX, XXXX PM",
                "indication": f"XXXX-year-old cough {i}",
            }
        )
    return rows


def fixture_reports() -> list[dict]:
    """The special reports first (uids 1-6), then generated ones."""
    special = [
        {
            "uid": "1",
            "terms": ["normal"],
            "findings": "The heart is normal XXXX. No XXXX of effusion.",
            "impression": "Normal chest x-XXXX.",
        },
        {
            "uid": "2",
            "terms": ["Cardiomegaly"],
            "findings": "The heart is normal  XXXX. No XXXX of  effusion.",
            "impression": "Normal chest x-XXXX.",
        },  # duplicate of 1 once cleaned
        {"uid": "3", "terms": ["Opacity"], "findings": "", "impression": ""},  # empty
        {"uid": "4", "terms": ["Opacity"], "findings": "XXXX XXXX", "impression": " "},  # empty once de-identified
        {"uid": "5", "terms": ["No Indexing"], "findings": "Lungs are clear.", "impression": "Stable exam."},
        {
            "uid": "6",
            "terms": ["Thoracic vertebrae"],
            "findings": "Mild thoracic spine degenerative change.",
            "impression": "No acute disease.",
        },
    ]
    return special + _generated_reports()


def write_reports_csv(path: Path, reports: list[dict], *, projections: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for r in reports:
            problems = ";".join(r["terms"])
            mesh = ";".join(t + ("/mild" if t == "Cardiomegaly" else "") for t in r["terms"])
            w.writerow(
                [
                    r["uid"],
                    mesh,
                    problems,
                    r.get("image", "Xray Chest PA and Lateral"),
                    r.get("indication", ""),
                    "None.",
                    r["findings"],
                    r["impression"],
                ]
            )
    if projections:
        with open(path.parent / "indiana_projections.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["uid", "filename", "projection"])
            for r in reports:
                uid = int(r["uid"])
                w.writerow([uid, f"{uid}_IM-{uid:04d}-1001.dcm.png", "Frontal"])
                if uid % 3:
                    w.writerow([uid, f"{uid}_IM-{uid:04d}-2001.dcm.png", "Lateral"])
    return path


def report_xml(
    uid: str,
    majors: list[str],
    findings: str | None,
    impression: str | None,
    *,
    automatic: list[str] = (),
    images: int = 2,
    caption: str = "Xray Chest PA and Lateral",
) -> str:
    """One report in NLM's Open-I ``ecgen-radiology`` format."""

    def text(label, value):
        return (
            f'<AbstractText Label="{label}"/>'
            if value is None
            else f'<AbstractText Label="{label}">{escape(value)}</AbstractText>'
        )

    parents = "".join(
        f'<parentImage id="CXR{uid}_{uid}_IM-{int(uid):04d}-{k + 1}001"><figureId>F{k + 1}</figureId><caption>{escape(caption)}</caption>'
        f'<panel type="single"><url>/hadoop/storage/radiology/extract/CXR{uid}_{uid}_IM-{int(uid):04d}-{k + 1}001.png</url>'
        f'<imgModality>7</imgModality><region type="0"><globalImageFeatures><CEDD>0 1 2</CEDD></globalImageFeatures></region></panel></parentImage>'
        for k in range(images)
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<eCitation>
   <meta type="rr"/>
   <uId id="CXR{uid}"/>
   <pmcId id="{uid}"/>
   <docSource>CXR</docSource>
   <IUXRId id="{uid}"/>
   <licenseType>open-access</licenseType>
   <publisher>Indiana University</publisher>
   <title>Indiana University Chest X-ray Collection</title>
   <MedlineCitation Owner="Indiana University" Status="supplied by publisher">
      <Article PubModel="Electronic">
         <Journal><JournalIssue><PubDate><Year>2013</Year><Month>08</Month><Day>01</Day></PubDate></JournalIssue></Journal>
         <ArticleTitle>Indiana University Chest X-ray Collection</ArticleTitle>
         <Abstract>
            {text("COMPARISON", "None.")}
            {text("INDICATION", "XXXX-year-old with cough")}
            {text("FINDINGS", findings)}
            {text("IMPRESSION", impression)}
         </Abstract>
         <Affiliation>Indiana University School of Medicine</Affiliation>
         <AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Kohli</LastName><ForeName>Marc</ForeName><Initials>MD</Initials></Author></AuthorList>
         <Language>eng</Language>
         <PublicationTypeList><PublicationType>Radiology Report</PublicationType></PublicationTypeList>
      </Article>
      <EVDisplay/>
   </MedlineCitation>
   <MeSH>
      {"".join(f"<major>{escape(m)}</major>" for m in majors)}
      {"".join(f"<automatic>{escape(a)}</automatic>" for a in automatic)}
   </MeSH>
   {parents}
</eCitation>
"""


XML_REPORTS = [
    # uid, majors, findings, impression, automatic
    (
        "1",
        ["normal"],
        "The cardiac silhouette and mediastinum size are within normal limits.",
        "Normal chest x-XXXX.",
        ["normal"],
    ),
    (
        "2",
        ["Cardiomegaly/borderline", "Pulmonary Artery/enlarged"],
        "Borderline cardiomegaly. Midline sternotomy XXXX.",
        "No acute findings.",
        ["Cardiomegaly"],
    ),
    ("3", ["normal"], None, None, []),  # empty text
    (
        "4",
        ["Opacity/lung/apex/left/irregular", "Opacity/lung/upper lobe/right/streaky", "Cicatrix/lung/upper lobe/left"],
        "Irregular opacities in the left lung apex. Streaky opacities, XXXX scarring.",
        "Scarring in the left apex.",
        ["Emphysema"],
    ),
    (
        "5",
        ["Cardiomegaly/mild"],
        "The cardiac silhouette and mediastinum size are within normal limits.",
        "Normal chest x-XXXX.",
        [],
    ),  # duplicate of 1
]


def _more_xml_reports() -> list[tuple]:
    out = []
    for i in range(6, 40):
        majors = [
            ["Cardiomegaly/mild"],
            ["Opacity/lung/base/left"],
            ["normal"],
            ["Cardiomegaly/severe", "Opacity/lung/bilateral"],
            ["Cicatrix/lung/base"],
            ["Pulmonary Artery/enlarged"],
        ][i % 6]
        words = " ".join(
            {
                "Cardiomegaly": "enlarged heart",
                "Opacity": "opacity",
                "normal": "clear lungs",
                "Cicatrix": "scarring",
                "Pulmonary Artery": "enlarged pulmonary artery",
            }[heading(m)]
            for m in majors
        )
        out.append((str(i), majors, f"Report uniq{i}: {words}.", f"Impression {i % 4} XXXX.", []))
    return out


def write_xml_folder(root: Path, reports: list[tuple] | None = None) -> Path:
    d = root / "ecgen-radiology"
    d.mkdir(parents=True)
    for uid, majors, findings, impression, automatic in reports if reports is not None else XML_REPORTS + _more_xml_reports():
        (d / f"{uid}.xml").write_text(report_xml(uid, majors, findings, impression, automatic=automatic))
    (d / "README.txt").write_text("not a report")  # non-XML files are ignored
    return root


@pytest.fixture()
def csv_source(tmp_path):
    return write_reports_csv(tmp_path / "openi" / "indiana_reports.csv", fixture_reports())


def _table(path):
    t = pq.read_table(path)
    return t, np.asarray(t.column("split").to_pylist()), t.column("id").to_pylist()


# ---------------------------------------------------------------- CSV


def test_registered():
    assert {"openi_csv", "openi_xml"} <= set(loader_names())


def test_csv_labels_drops_text_and_metadata(csv_source, tmp_path):
    opts = OpenICsvOptions(path=str(csv_source), top_k=4, vocab_size=500, test_fraction=0.25, val_fraction=0.2)
    path = prepare("openi_csv", opts, tmp_path / "cache")
    info = read_info(path)
    t, split, ids = _table(path)
    # top 4 by kept reports (uid 2 is a dropped duplicate: its Cardiomegaly does not count); Nodule and Pulmonary Atelectasis
    # tie at 8 reports (alphabetical order decides); 'normal' is never a task
    counts = {x["term"]: x["count"] for x in info.extra["terms"]}
    assert counts == {"Cardiomegaly": 15, "Opacity": 12, "Thoracic Vertebrae": 9, "Nodule": 8}
    assert [x.title for x in info.tasks] == ["Cardiomegaly", "Opacity", "Thoracic Vertebrae", "Nodule"]
    assert info.task_names == ["Cardiomegaly", "Opacity", "Thoracic_Vertebrae", "Nodule"]
    assert all(x.kind == "binary" and x.metric == "f1" for x in info.tasks)
    assert not {"normal", "No_Indexing"} & set(info.task_names)
    # drops: 3 (empty), 4 (empty once XXXX is stripped), 2 (same text as 1 once cleaned; the first is kept)
    assert "1" in ids and not {"2", "3", "4"} & set(ids)
    rep = info.extra["reports"]
    assert rep == {
        "read": 66,
        "dropped_empty_text": 2,
        "dropped_duplicate_text": 1,
        "duplicates_with_other_terms": 1,
        "unindexed": 1,
        "dropped_unindexed": 0,
        "kept": 63,
    }
    assert len(ids) == 63 and len(set(ids)) == 63
    row = {name: ids.index(name) for name in ("1", "5", "6", "11")}
    labels = {name: [t.column(c)[r].as_py() for c in info.task_names] for name, r in row.items()}
    assert labels["1"] == [0, 0, 0, 0]  # normal: every label 0
    assert labels["5"] == [-1, -1, -1, -1]  # No Indexing: labels unknown
    assert labels["6"] == [0, 0, 1, 0]  # 'Thoracic vertebrae' is the same term as 'Thoracic Vertebrae'
    assert labels["11"] == [1, 0, 0, 0]
    assert counts["Thoracic Vertebrae"] == 1 + sum("Thoracic Vertebrae" in r["terms"] for r in _generated_reports())
    # text: findings + impression, XXXX stripped, whitespace collapsed
    text = t.column("text")[row["1"]].as_py()
    assert text == "The heart is normal. No of effusion. Normal chest x-."
    assert "XXXX" not in " ".join(
        t.column("text").to_pylist() + t.column("indication").to_pylist() + t.column("exam").to_pylist()
    )
    assert info.extra["text_column"] == "text"
    # metadata columns: exam = the image field, projections from indiana_projections.csv next to the reports
    assert t.column("exam")[row["11"]].as_py() == "Xray Chest PA and Lateral"
    assert t.column("projections")[row["11"]].as_py() == "Frontal;Lateral"
    assert t.column("projections")[ids.index("12")].as_py() == "Frontal"
    assert t.column("images")[row["11"]].as_py() == "11_IM-0011-1001.dcm.png;11_IM-0011-2001.dcm.png"
    assert t.column("indication")[row["11"]].as_py() == "-year-old cough 11"
    # splits: all three, each label in each, vocabulary from the training reports only
    assert set(split) == {"train", "val", "test"}
    for name in info.task_names:
        col = np.asarray(t.column(name).to_pylist())
        for s in ("train", "val", "test"):
            assert (col[split == s] == 1).sum() > 0, (name, s)
    train_tokens = {w for txt, s in zip(t.column("text").to_pylist(), split) if s == "train" for w in tokenize(txt)}
    vocab = info.extra["vocabulary"]
    assert set(vocab) <= train_tokens and len(vocab) == info.input_dim
    held_out = {f"uniq{i}" for i, s in zip(ids, split) if s != "train" and int(i) >= 10}
    assert held_out and not held_out & set(vocab)


def test_csv_top_k_ties_and_k_too_large(csv_source):
    loader = get_loader("openi_csv")
    names = [x.name for x in loader.tasks(OpenICsvOptions(path=str(csv_source), top_k=6))]
    assert names[3:] == ["Nodule", "Pulmonary_Atelectasis", "Catheters_Indwelling"]  # ties (8 reports): alphabetical
    with pytest.raises(
        DataError, match=r"top_k is 7 but the 63 kept reports carry only 6 distinct terms besides 'normal' and 'No Indexing'"
    ) as e:
        loader.tasks(OpenICsvOptions(path=str(csv_source), top_k=7))
    assert str(csv_source) in str(e.value)


@pytest.mark.parametrize("mode, kept, row5", [("drop", 62, None), ("negative", 63, [0, 0])])
def test_csv_no_indexing_modes(csv_source, tmp_path, mode, kept, row5):
    path = prepare("openi_csv", OpenICsvOptions(path=str(csv_source), top_k=2, no_indexing=mode), tmp_path / "c")
    t, _, ids = _table(path)
    assert len(ids) == kept and read_info(path).extra["reports"]["dropped_unindexed"] == 66 - 3 - kept
    if row5 is None:
        assert "5" not in ids
    else:
        assert [t.column(c)[ids.index("5")].as_py() for c in read_info(path).task_names] == row5


def test_csv_fingerprint_follows_the_data(csv_source, tmp_path):
    loader = get_loader("openi_csv")
    opts = OpenICsvOptions(path=str(csv_source), top_k=3)
    fp = loader.fingerprint(opts)
    assert (
        fp
        == loader.fingerprint(OpenICsvOptions(path=str(csv_source), top_k=3))
        != loader.fingerprint(OpenICsvOptions(path=str(csv_source), top_k=2))
    )
    copy = write_reports_csv(tmp_path / "elsewhere" / "reports.csv", fixture_reports())
    assert loader.fingerprint(OpenICsvOptions(path=str(copy), top_k=3)) == fp  # same data, other path
    proj = csv_source.parent / "indiana_projections.csv"
    proj.write_text(proj.read_text().replace("Lateral", "LATERAL"))
    assert loader.fingerprint(opts) != fp  # the projections are part of the data
    fp2 = loader.fingerprint(opts)
    write_reports_csv(csv_source, fixture_reports()[:-1], projections=False)
    assert loader.fingerprint(opts) != fp2
    assert len(loader.tasks(opts)) == 3  # the cache follows the file


def test_csv_explicit_projections_and_none(tmp_path):
    src = write_reports_csv(tmp_path / "a" / "reports.csv", fixture_reports(), projections=False)
    t, _, ids = _table(prepare("openi_csv", OpenICsvOptions(path=str(src), top_k=2), tmp_path / "c"))
    assert set(t.column("projections").to_pylist()) == {""}  # no projections file: unknown
    other = write_reports_csv(tmp_path / "b" / "r.csv", fixture_reports())
    opts = OpenICsvOptions(path=str(src), top_k=2, projections_path=str(other.parent / "indiana_projections.csv"))
    t, _, ids = _table(prepare("openi_csv", opts, tmp_path / "c"))
    assert t.column("projections")[ids.index("11")].as_py() == "Frontal;Lateral"
    with pytest.raises(DataError, match="Open-I projections CSV not found"):
        get_loader("openi_csv").fingerprint(OpenICsvOptions(path=str(src), projections_path=str(tmp_path / "nope.csv")))


def test_path_variables_and_missing_path(csv_source, monkeypatch):
    monkeypatch.setenv("OPENI_FIXTURE", str(csv_source.parent))
    assert len(get_loader("openi_csv").tasks(OpenICsvOptions(path="${OPENI_FIXTURE}/indiana_reports.csv", top_k=2))) == 2
    monkeypatch.delenv("OPENI_FIXTURE")
    with pytest.raises(DataError, match=r"Open-I reports CSV not found.*\$OPENI_FIXTURE is not set"):
        get_loader("openi_csv").tasks(OpenICsvOptions(path="${OPENI_FIXTURE}/indiana_reports.csv"))


@pytest.mark.parametrize(
    "content, match",
    [
        ("", r"{p}: the file is empty"),
        ("  \n", r"{p}: the file is empty"),
        (
            "uid,MeSH,image,findings\n1,normal,x,y\n",
            r"{p}:1: the Open-I reports CSV lacks the required columns 'Problems', 'impression'",
        ),
        ("uid,Problems,findings,impression\n", r"{p}: no reports after the header line"),
        ("uid,Problems,findings,impression\n1,normal,a,b\n2,normal,c\n", r"{p}:3: 3 fields, the header has 4"),
        ('uid,Problems,findings,impression\n1,normal,"a\nb",c\n1,normal,d,e\n', r"{p}:4: uid '1' repeats the report of line 2"),
        ("uid,Problems,findings,impression\n1,normal,a,b\n,normal,c,d\n", r"{p}:3: empty uid"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path, content, match):
    p = tmp_path / "reports.csv"
    p.write_text(content)
    with pytest.raises(DataError, match=match.format(p=p)):
        get_loader("openi_csv").tasks(OpenICsvOptions(path=str(p)))


def test_csv_not_utf8_and_bad_projections(tmp_path):
    p = tmp_path / "reports.csv"
    p.write_bytes(b"uid,Problems,findings,impression\n1,normal,a,b\n2,normal,\xff,b\n")
    with pytest.raises(DataError, match=f"{p}:3: not UTF-8"):
        get_loader("openi_csv").tasks(OpenICsvOptions(path=str(p)))
    src = write_reports_csv(tmp_path / "o" / "indiana_reports.csv", fixture_reports())
    (src.parent / "indiana_projections.csv").write_text("uid,file,projection\n1,a.png,Frontal\n")
    with pytest.raises(
        DataError, match=r"indiana_projections.csv:1: the Open-I projections CSV lacks the required column 'filename'"
    ):
        get_loader("openi_csv").build(OpenICsvOptions(path=str(src), top_k=2), "fp")


def test_text_cleaning_heading_and_task_names():
    assert clean_text("Normal chest x-XXXX.\n\n XXXX-year-old  XXXX with RADXXXX") == "Normal chest x-. -year-old with RAD"
    assert clean_text(None) == "" and clean_text(" XXXX XXXX ") == ""
    assert heading("Cardiomegaly/mild") == "Cardiomegaly" and heading("Opacity/lung/base/left") == "Opacity"
    assert heading("Pulmonary Disease, Chronic Obstructive") == "Pulmonary Disease, Chronic Obstructive"
    taken: set[str] = set()
    assert [
        task_name(t, taken)
        for t in ["Pulmonary Atelectasis", "Catheters, Indwelling", "Text", "split", "Id", "Lung/", "Lung", "LUNG"]
    ] == ["Pulmonary_Atelectasis", "Catheters_Indwelling", "Text_label", "split_label", "Id_label", "Lung", "Lung_2", "LUNG_3"]


# ---------------------------------------------------------------- XML


def test_xml_folder_headings_text_and_drops(tmp_path):
    root = write_xml_folder(tmp_path / "NLMCXR_reports")
    opts = OpenIXmlOptions(path=str(root), top_k=4, vocab_size=300)
    loader = get_loader("openi_xml")
    assert [x.title for x in loader.tasks(opts)] == ["Cardiomegaly", "Opacity", "Cicatrix", "Pulmonary Artery"]
    path = prepare("openi_xml", opts, tmp_path / "cache")
    info = read_info(path)
    t, split, ids = _table(path)
    assert info.task_names == ["Cardiomegaly", "Opacity", "Cicatrix", "Pulmonary_Artery"]
    assert info.extra["reports"]["read"] == 39 and info.extra["reports"]["dropped_empty_text"] == 1
    assert info.extra["reports"]["dropped_duplicate_text"] == 1
    assert ids[:3] == ["1", "2", "4"] and "3" not in ids and "5" not in ids  # ids in numeric order; empty 3, duplicate 5 dropped
    labels = {i: [t.column(c)[ids.index(i)].as_py() for c in info.task_names] for i in ("1", "2", "4")}
    assert labels == {
        "1": [0, 0, 0, 0],
        "2": [1, 0, 0, 1],
        "4": [0, 1, 1, 0],
    }  # 'Opacity/lung/...' -> Opacity; <automatic> ignored
    assert t.column("text")[ids.index("2")].as_py() == "Borderline cardiomegaly. Midline sternotomy. No acute findings."
    assert t.column("exam")[0].as_py() == "Xray Chest PA and Lateral"
    assert t.column("images")[0].as_py() == "CXR1_1_IM-0001-1001;CXR1_1_IM-0001-2001"
    assert t.column("indication")[0].as_py() == "-year-old with cough"
    assert set(t.column("projections").to_pylist()) == {""}  # the XML holds no projection
    assert set(split) == {"train", "val", "test"} and info.extra["text_column"] == "text"


def test_xml_tar_gz_matches_folder(tmp_path):
    root = write_xml_folder(tmp_path / "src")
    archive = tmp_path / "NLMCXR_reports.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "ecgen-radiology", arcname="ecgen-radiology")
    a = prepare("openi_xml", OpenIXmlOptions(path=str(root), top_k=3), tmp_path / "cache")
    b = prepare("openi_xml", OpenIXmlOptions(path=str(archive), top_k=3), tmp_path / "cache")
    assert a != b
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.column_names == tb.column_names
    for col in ta.column_names:
        assert ta.column(col).equals(tb.column(col)), col


def test_xml_projections_matched_by_id(tmp_path):
    root = write_xml_folder(tmp_path / "x")
    with open(tmp_path / "x" / "projections.csv", "w") as f:
        f.write(
            "uid,filename,projection\n1,1_IM-0001-1001.dcm.png,Frontal\n1,1_IM-0001-2001.dcm.png,Lateral\n2,2_a.png,Lateral\n"
        )
    opts = OpenIXmlOptions(path=str(root / "ecgen-radiology"), top_k=2, projections_path=str(tmp_path / "x" / "projections.csv"))
    t, _, ids = _table(prepare("openi_xml", opts, tmp_path / "c"))
    assert t.column("projections").to_pylist()[:2] == ["Frontal;Lateral", "Lateral"]
    assert t.column("projections")[ids.index("4")].as_py() == ""


def test_xml_errors(tmp_path):
    loader = get_loader("openi_xml")
    bad = write_xml_folder(tmp_path / "bad", XML_REPORTS[:2])
    xml = report_xml("7", ["normal"], "Clear.", "Fine.").replace("</Abstract>", "</Abstrakt>")
    (bad / "ecgen-radiology" / "7.xml").write_text(xml)
    line = xml[: xml.index("</Abstrakt>")].count("\n") + 1
    with pytest.raises(DataError, match=rf"{bad / 'ecgen-radiology' / '7.xml'}:{line}: malformed XML \(mismatched tag"):
        loader.tasks(OpenIXmlOptions(path=str(bad), top_k=1))
    (bad / "ecgen-radiology" / "7.xml").write_text("")
    with pytest.raises(DataError, match=r"7.xml:1: malformed XML \(no element found"):
        loader.tasks(OpenIXmlOptions(path=str(bad), top_k=1))
    (bad / "ecgen-radiology" / "7.xml").write_text("<?xml version='1.0'?><collection><document/></collection>")
    with pytest.raises(DataError, match=r"7.xml: not an Open-I report: no <MedlineCitation>"):
        loader.tasks(OpenIXmlOptions(path=str(bad), top_k=1))
    (bad / "ecgen-radiology" / "7.xml").write_text(report_xml("1", ["normal"], "Other.", "Text."))
    with pytest.raises(DataError, match=r"7.xml: report id '1' repeats .*1.xml"):
        loader.tasks(OpenIXmlOptions(path=str(bad), top_k=1))
    (bad / "ecgen-radiology" / "7.xml").unlink()
    with pytest.raises(DataError, match=r"top_k is 3 but the 2 kept reports carry only 2 distinct terms"):
        loader.tasks(OpenIXmlOptions(path=str(bad), top_k=3))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no .xml reports found"):
        loader.tasks(OpenIXmlOptions(path=str(empty)))
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tar")
    with pytest.raises(DataError, match="cannot read the archive"):
        loader.tasks(OpenIXmlOptions(path=str(broken)))
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(bad / "ecgen-radiology", arcname="ecgen-radiology")
        member = tarfile.TarInfo("ecgen-radiology/9.xml")
        data = b"<eCitation><MedlineCitation>\n<oops></eCitation>"
        member.size = len(data)
        import io

        tar.addfile(member, io.BytesIO(data))
    with pytest.raises(DataError, match=rf"{archive}:ecgen-radiology/9.xml:2: malformed XML"):
        loader.tasks(OpenIXmlOptions(path=str(archive), top_k=1))


# ---------------------------------------------------------------- real data


@pytest.mark.skipif(
    not REAL_CSV.is_file(),
    reason=f"real Open-I reports CSV not found at {REAL_CSV} (set MTLSEARCH_DATA to the shared data folder)",
)
def test_real_csv_top19(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MTLSEARCH_DATA", str(DATA))
    opts = OpenICsvOptions(path="${MTLSEARCH_DATA}/openi/indiana_reports.csv")
    assert opts.top_k == 19
    path = prepare("openi_csv", opts, tmp_path)
    info = read_info(path)
    with capsys.disabled():
        print("\nOpen-I (Indiana CSV) top-19 MeSH headings, reports of the 3,066 kept:")
        for x in info.extra["terms"]:
            print(f"  {x['term']:<24} {x['name']:<24} {x['count']:>4}")
        print("  reports:", info.extra["reports"])
    # 3,851 reports: 25 with an empty findings + impression, 760 repeating an earlier report's text -> 3,066 kept
    assert info.extra["reports"] == {
        "read": 3851,
        "dropped_empty_text": 25,
        "dropped_duplicate_text": 760,
        "duplicates_with_other_terms": 17,
        "unindexed": 35,
        "dropped_unindexed": 0,
        "kept": 3066,
    }
    top = [(x["term"], x["count"]) for x in info.extra["terms"]]
    assert top[:5] == [
        ("Lung", 536),
        ("Opacity", 432),
        ("Cardiomegaly", 345),
        ("Pulmonary Atelectasis", 315),
        ("Calcinosis", 291),
    ]
    assert top[-1] == ("Granulomatous Disease", 106) and len(top) == 19
    assert info.extra["distinct_terms"] == 116
    assert "normal" not in {t.name.lower() for t in info.tasks} | {t.title.lower() for t in info.tasks}
    assert "Pulmonary_Atelectasis" in info.task_names and "Catheters_Indwelling" in info.task_names
    report = inspect_table(str(path))
    assert sum(report["size"].values()) == 3066
    assert report["size"]["test"] == pytest.approx(0.2 * 3066, abs=15)
    for t in report["tasks"]:
        for s in ("train", "val", "test"):
            assert t["counts"][s]["positive"] > 0, f"{t['name']} has no positive in {s}"
    table = pq.read_table(path, columns=["text", "projections", "exam"])
    assert not any("XXXX" in s for s in table.column("text").to_pylist())
    assert table.column("projections").to_pylist().count("Frontal;Lateral") > 2500
    assert get_loader("openi_csv").fingerprint(opts) == info.fingerprint
