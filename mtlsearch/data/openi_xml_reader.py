"""Reading NLM's Open-I XML reports (``ecgen-radiology/<n>.xml``), from a folder or an archive.

:func:`parse_report_xml` reads one ``<eCitation>`` into a
:class:`~mtlsearch.data.openi_reports.Report`; :func:`read_reports_xml` reads
them all, in order of their ids. Which elements give the id, the text, the
terms and the images: ``openi_xml`` in :mod:`mtlsearch.data.openi`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from mtlsearch.data.openi_reports import Report, clean_text, distinct_headings
from mtlsearch.data.sources import is_archive, iter_files
from mtlsearch.errors import DataError


def _text_of(el: ET.Element | None) -> str:
    return "".join(el.itertext()) if el is not None else ""


def parse_report_xml(content: bytes, where: str, fallback_id: str) -> Report:
    """One NLM Open-I report (``<eCitation>``); a malformed file is a DataError naming the file and the parser's line."""
    try:
        root = ET.fromstring(content)
    except ET.ParseError as e:
        line = e.position[0] if getattr(e, "position", None) else 1
        raise DataError(f"{where}:{line}: malformed XML ({e})") from None
    if root.tag != "MedlineCitation" and root.find(".//MedlineCitation") is None:
        raise DataError(f"{where}: not an Open-I report: no <MedlineCitation> element (root <{root.tag}>)")
    uid = ""
    for tag, strip in (("IUXRId", ""), ("uId", "CXR")):
        el = root.find(f".//{tag}")
        if el is not None and el.get("id", "").strip():
            uid = el.get("id").strip()
            if strip and uid.startswith(strip) and uid[len(strip) :].isdigit():
                uid = uid[len(strip) :]
            break
    sections: dict[str, str] = {}
    for el in root.iter("AbstractText"):
        label = (el.get("Label") or "").strip().upper()
        if label and label not in sections:
            sections[label] = _text_of(el)
    images, captions = [], []
    for el in root.iter("parentImage"):
        if el.get("id"):
            images.append(el.get("id").strip())
        captions.append(clean_text(_text_of(el.find("caption"))))
    majors = [_text_of(el) for mesh in root.iter("MeSH") for el in mesh.iter("major")]
    return Report(
        uid=uid or fallback_id,
        terms=distinct_headings(majors),
        findings=sections.get("FINDINGS", ""),
        impression=sections.get("IMPRESSION", ""),
        indication=sections.get("INDICATION", ""),
        comparison=sections.get("COMPARISON", ""),
        exam=next((c for c in captions if c), ""),
        images=tuple(images),
        where=where,
    )


def _natural(uid: str) -> tuple:
    return (0, int(uid), "") if uid.isdigit() else (1, 0, uid)


def read_reports_xml(path: Path) -> list[Report]:
    """The reports of a folder or archive of Open-I XML files, in order of their ids (numeric ids by value)."""
    reports: dict[str, Report] = {}
    archive = is_archive(path)
    for parts, content in iter_files(path, "of Open-I XML reports (ecgen-radiology/<n>.xml)"):
        if not parts or not parts[-1].lower().endswith(".xml") or any(p.startswith(".") for p in parts):
            continue
        where = f"{path}:{'/'.join(parts)}" if archive else str(path.joinpath(*parts))
        r = parse_report_xml(content, where, fallback_id=parts[-1][: -len(".xml")])
        if r.uid in reports:
            raise DataError(f"{where}: report id {r.uid!r} repeats {reports[r.uid].where}")
        reports[r.uid] = r
    if not reports:
        raise DataError(f"{path}: no .xml reports found")
    return [reports[u] for u in sorted(reports, key=_natural)]
