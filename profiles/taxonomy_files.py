"""Reading and writing taxonomy files: the shipped default taxonomy, the project's CSV/JSON format, ESCO.

Pure parsing (stdlib ``csv``/``json`` only); the service layer decides what to do with the skills.

Error reporting
---------------
Every reader of external files returns a :class:`ParseResult` — a named tuple ``(skills, errors)``:

* ``skills`` — the :class:`~matching.types.TaxonomySkill` of every good row, in file order;
* ``errors`` — one :class:`RowError` ``(line, reason)`` per bad row: ``line`` is the 1-based physical line
  where the record starts in its file (the header is line 1; a CSV record whose quoted fields span several
  lines is reported at its first line; for a JSON array, the line of the element's opening brace). When
  several files are read together, ``reason`` starts with the file name.

Bad rows never stop the good ones. A file that cannot be read at all (unknown layout, missing required
columns, invalid JSON document) raises :class:`TaxonomyFileError`, whose ``errors`` holds the same
``(line, reason)`` pairs; with ``strict=True`` a reader raises it as soon as any row is bad.

Project format
--------------
JSON: an array of objects (or JSON Lines, one object a line)
``{"id", "label_fr", "label_en", "aliases": [...], "category", "related": [ids], "source", "description"}``.
CSV: columns ``id,label_fr,label_en,aliases,category,related,source,description`` (comma or semicolon
delimited); ``aliases`` and ``related`` are separated by ``|`` or ``;`` inside their cell. Only ``label_fr``
is required: a missing ``id`` is derived from it (lowercase slug).

ESCO
----
The official ``skills_<lang>.csv`` files (``conceptType, conceptUri, skillType, reuseLevel, preferredLabel,
altLabels, hiddenLabels, status, modifiedDate, scopeNote, definition, inScheme, description``; altLabels are
separated by newlines inside their quoted cell), merged by ``conceptUri``: French ``preferredLabel`` →
``label_fr``, English → ``label_en`` (each falls back on the other when only one language is given), the
alternative labels of every language → ``aliases``; ``id`` = ``"esco:" + the last segment of the URI`` (its
UUID); ``source`` = the URI; ``category`` = ``skillType`` (or ``"ESCO"``); ``description`` = ``description``
(or ``definition``), French first. Relation files (``broaderRelationsSkillPillar*.csv``,
``skillSkillRelations*.csv``) may be given too; they fill ``related`` with ids of the skills read. So may
``occupationSkillRelations*.csv`` (``occupationUri, relationType, skillType, skillUri``): two skills essential
together to at least two occupations become related (the five strongest such pairs per skill), and each skill
keeps in ``occupations`` the ids (``esco:`` + UUID) of the occupations listing it, essential or optional —
ranking reads from them which trade a profile points to. The project's JSON format carries ``occupations``
too (a list of ids); its CSV format does not.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

from matching.normalise import strip_accents
from matching.types import TaxonomySkill

__all__ = [
    "DEFAULT_TAXONOMY_PATH",
    "ESCO_SKILL_COLUMNS",
    "PROJECT_COLUMNS",
    "ParseResult",
    "RowError",
    "TaxonomyFileError",
    "check_taxonomy",
    "detect_and_read",
    "esco_id",
    "load_default_taxonomy",
    "read_esco",
    "read_project_taxonomy",
    "slugify",
    "write_project_taxonomy",
]

StrPath = str | PathLike[str]

DEFAULT_TAXONOMY_PATH = Path(__file__).parent / "data" / "default_taxonomy.json"

PROJECT_COLUMNS = ("id", "label_fr", "label_en", "aliases", "category", "related", "source", "description")
ESCO_SKILL_COLUMNS = (
    "conceptType", "conceptUri", "skillType", "reuseLevel", "preferredLabel", "altLabels", "hiddenLabels",
    "status", "modifiedDate", "scopeNote", "definition", "inScheme", "description",
)
_ESCO_REQUIRED = ("conceptUri", "preferredLabel")
_ESCO_SKILL_TYPES = {"", "knowledgeskillcompetence", "skill", "knowledge", "skill/competence"}
# Relation files: (source column, target column, symmetric?)
_ESCO_RELATION_LAYOUTS = (
    ("originalSkillUri", "relatedSkillUri", True),  # skillSkillRelations*.csv
    ("conceptUri", "broaderUri", False),  # broaderRelationsSkillPillar*.csv
)

# occupationSkillRelations*.csv: skills essential to the same occupations become related
_ESCO_OCCUPATION_COLUMNS = ("occupationUri", "relationType", "skillUri")
_CO_ESSENTIAL_MIN = 2  # a pair counts from this many occupations where both are essential
_CO_ESSENTIAL_TOP = 5  # at most this many such neighbours per skill

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9:._\-]*$")
_ID_MAX = 200
_LIST_SPLIT = re.compile(r"[|;\n]")
_LANG_IN_NAME = re.compile(r"(?:^|[_\-.])([a-z]{2})(?:[_\-.]|$)", re.IGNORECASE)
_LANGS = {"fr", "en", "de", "es", "it", "nl", "pt", "pl", "sv", "da", "fi", "cs", "sk", "sl", "hu", "ro",
          "bg", "el", "et", "lv", "lt", "hr", "mt", "ga", "is", "no", "uk", "ar"}


class RowError(NamedTuple):
    """A bad row: the 1-based line where it starts and why it was rejected."""

    line: int
    reason: str


class ParseResult(NamedTuple):
    """What a reader returns: the good skills and the bad rows (``skills, errors = read(...)``)."""

    skills: list[TaxonomySkill]
    errors: list[RowError]


class TaxonomyFileError(ValueError):
    """A taxonomy file that cannot be read at all, or a bad row when ``strict=True``."""

    def __init__(self, message: str, errors: Sequence[tuple[int, str]] = ()) -> None:
        super().__init__(message)
        self.errors = [RowError(int(n), str(r)) for n, r in errors]


# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Case- and accent-insensitive key of a term (``C#`` and ``C++`` stay distinct)."""
    text = strip_accents(text)
    return " ".join(re.sub(r"[^\w#+]+", " ", text).split())


def slugify(text: str) -> str:
    """A stable lowercase id from a label: ``"Marchés publics"`` → ``"marches-publics"``."""
    text = strip_accents(text)
    text = text.replace("#", " sharp ").replace("++", "pp").replace("+", " plus ")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:_ID_MAX]


def esco_id(uri: str) -> str:
    """The id of an ESCO concept: ``esco:`` + the last segment of its URI (its UUID), lowercased."""
    tail = uri.strip().rstrip("/").rsplit("/", 1)[-1]
    tail = re.sub(r"[^a-z0-9._\-]+", "-", tail.lower()).strip("-")
    return f"esco:{tail}" if tail else ""


def _dedupe(terms: Iterable[str], exclude: Iterable[str] = ()) -> tuple[str, ...]:
    seen = {_fold(t) for t in exclude if t}
    out: list[str] = []
    for term in terms:
        term = " ".join(term.split())
        key = _fold(term)
        if term and key and key not in seen:
            seen.add(key)
            out.append(term)
    return tuple(out)


def _split_list(value: Any, *, what: str) -> tuple[str, ...]:
    """A list cell: a JSON list of strings, or a string separated by ``|``, ``;`` or newlines."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in _LIST_SPLIT.split(value) if p.strip())
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"{what} must be a list of strings")
        return tuple(v.strip() for v in value if v.strip())
    raise ValueError(f"{what} must be a list of strings")


def _opt_str(value: Any, *, what: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    return value.strip()


def _skill_from_record(record: dict[str, Any]) -> TaxonomySkill:
    """Validate one project-format record (JSON object or CSV row). Raises ``ValueError`` with the reason."""
    label_fr = _opt_str(record.get("label_fr"), what="label_fr")
    label_en = _opt_str(record.get("label_en"), what="label_en")
    if not label_fr:
        raise ValueError("label_fr is empty")
    skill_id = _opt_str(record.get("id"), what="id") or slugify(label_fr)
    if not skill_id:
        raise ValueError("id is empty and cannot be derived from label_fr")
    if len(skill_id) > _ID_MAX or not ID_PATTERN.match(skill_id):
        raise ValueError(f"id {skill_id!r} is not a lowercase slug (a-z, 0-9, '-', '_', '.', ':')")
    aliases = _dedupe(_split_list(record.get("aliases"), what="aliases"), exclude=(label_fr, label_en))
    related_ids = _split_list(record.get("related"), what="related")
    related = tuple(dict.fromkeys(r for r in related_ids if r != skill_id))
    for rel in related:
        if not ID_PATTERN.match(rel):
            raise ValueError(f"related id {rel!r} is not a lowercase slug")
    source = _opt_str(record.get("source"), what="source") or None
    occupations = tuple(dict.fromkeys(_split_list(record.get("occupations"), what="occupations")))
    return TaxonomySkill(
        id=skill_id,
        label_fr=label_fr,
        label_en=label_en,
        aliases=aliases,
        category=_opt_str(record.get("category"), what="category"),
        related=related,
        source=source,
        description=_opt_str(record.get("description"), what="description"),
        occupations=occupations,
    )


def _finish(skills: list[TaxonomySkill], errors: list[RowError], *, strict: bool, name: str) -> ParseResult:
    errors.sort(key=lambda e: e.line)
    if strict and errors:
        first = errors[0]
        raise TaxonomyFileError(f"{name}: line {first.line}: {first.reason}", errors)
    return ParseResult(skills, errors)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaxonomyFileError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc


def _csv_records(stream: Iterable[str], *, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """Yield ``(start_line, fields)`` for each non-blank CSV record, the header included (line 1)."""
    reader = csv.reader(stream, delimiter=delimiter)
    start = 1
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                yield start, fields
            start = reader.line_num + 1
    except csv.Error as exc:
        reason = f"malformed CSV ({exc})"
        raise TaxonomyFileError(f"line {start}: {reason}", [(start, reason)]) from exc


# ---------------------------------------------------------------------------------------------------------
# Default taxonomy
# ---------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _default_taxonomy() -> tuple[TaxonomySkill, ...]:
    result = read_project_taxonomy(DEFAULT_TAXONOMY_PATH, strict=True)
    return tuple(result.skills)


def load_default_taxonomy() -> list[TaxonomySkill]:
    """The taxonomy shipped with Talents (``profiles/data/default_taxonomy.json``), a fresh list each call."""
    return list(_default_taxonomy())


# ---------------------------------------------------------------------------------------------------------
# Project format
# ---------------------------------------------------------------------------------------------------------


def read_project_taxonomy(path: StrPath, *, strict: bool = False) -> ParseResult:
    """Read the project's own taxonomy format, JSON (array or JSON Lines) or CSV, chosen by content."""
    path = Path(path)
    text = _read_text(path)
    head = text.lstrip()[:1]
    if head == "[":
        skills, errors = _parse_json_array(text, path.name)
    elif head == "{":
        skills, errors = _parse_json_lines(text)
    else:
        skills, errors = _parse_project_csv(text, path.name)
    return _finish(*_drop_duplicate_ids(skills, errors), strict=strict, name=path.name)


def _drop_duplicate_ids(
    rows: list[tuple[int, TaxonomySkill]], errors: list[RowError]
) -> tuple[list[TaxonomySkill], list[RowError]]:
    seen: dict[str, int] = {}
    skills: list[TaxonomySkill] = []
    for line, skill in rows:
        if skill.id in seen:
            errors.append(RowError(line, f"duplicate id {skill.id!r} (first at line {seen[skill.id]})"))
            continue
        seen[skill.id] = line
        skills.append(skill)
    return skills, errors


def _parse_json_array(text: str, name: str) -> tuple[list[tuple[int, TaxonomySkill]], list[RowError]]:
    """Parse a top-level JSON array element by element, so each bad element keeps its line number."""
    decoder = json.JSONDecoder()
    rows: list[tuple[int, TaxonomySkill]] = []
    errors: list[RowError] = []
    ws = re.compile(r"\s*")
    pos = ws.match(text, 0).end() + 1  # type: ignore[union-attr]  # after "["
    pos = ws.match(text, pos).end()  # type: ignore[union-attr]
    if text[pos:pos + 1] == "]":
        return rows, errors
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise TaxonomyFileError(f"{name}: line {exc.lineno}: invalid JSON ({exc.msg})",
                                    [(exc.lineno, f"invalid JSON ({exc.msg})")]) from exc
        if isinstance(value, dict):
            try:
                rows.append((line, _skill_from_record(value)))
            except ValueError as exc:
                errors.append(RowError(line, str(exc)))
        else:
            errors.append(RowError(line, f"expected an object, got {type(value).__name__}"))
        pos = ws.match(text, pos).end()  # type: ignore[union-attr]
        sep = text[pos:pos + 1]
        if sep == "]":
            rest = text[pos + 1:].strip()
            if rest:
                extra = text.count("\n", 0, pos) + 1
                raise TaxonomyFileError(f"{name}: line {extra}: unexpected content after the JSON array",
                                        [(extra, "unexpected content after the JSON array")])
            return rows, errors
        if sep != ",":
            bad = text.count("\n", 0, pos) + 1
            raise TaxonomyFileError(f"{name}: line {bad}: expected ',' or ']' in the JSON array",
                                    [(bad, "expected ',' or ']' in the JSON array")])
        pos = ws.match(text, pos + 1).end()  # type: ignore[union-attr]


def _parse_json_lines(text: str) -> tuple[list[tuple[int, TaxonomySkill]], list[RowError]]:
    rows: list[tuple[int, TaxonomySkill]] = []
    errors: list[RowError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(RowError(number, f"invalid JSON ({exc.msg})"))
            continue
        if not isinstance(value, dict):
            errors.append(RowError(number, f"expected an object, got {type(value).__name__}"))
            continue
        try:
            rows.append((number, _skill_from_record(value)))
        except ValueError as exc:
            errors.append(RowError(number, str(exc)))
    return rows, errors


def _parse_project_csv(text: str, name: str) -> tuple[list[tuple[int, TaxonomySkill]], list[RowError]]:
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    records = _csv_records(io.StringIO(text, newline=""), delimiter=delimiter)
    header_row = next(records, None)
    if header_row is None:
        return [], []
    header = [h.strip().lower() for h in header_row[1]]
    if "label_fr" not in header:
        expected = ", ".join(PROJECT_COLUMNS)
        raise TaxonomyFileError(f"{name}: line 1: missing column 'label_fr' (expected {expected})",
                                [(1, "missing column 'label_fr'")])
    index = {col: header.index(col) for col in PROJECT_COLUMNS if col in header}
    rows: list[tuple[int, TaxonomySkill]] = []
    errors: list[RowError] = []
    for line, fields in records:
        if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
            errors.append(RowError(line, f"{len(fields)} fields, the header has {len(header)}"))
            continue
        record = {col: (fields[i] if i < len(fields) else "") for col, i in index.items()}
        try:
            rows.append((line, _skill_from_record(record)))
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
    return rows, errors


def write_project_taxonomy(path: StrPath, skills: Iterable[TaxonomySkill], *, fmt: str | None = None) -> None:
    """Write skills in the project format: JSON (array) or CSV, from ``fmt`` or the file extension."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "json").lower()
    if fmt == "json":
        data = [
            {"id": s.id, "label_fr": s.label_fr, "label_en": s.label_en, "aliases": list(s.aliases),
             "category": s.category, "related": list(s.related), "source": s.source,
             "description": s.description, **({"occupations": list(s.occupations)} if s.occupations else {})}
            for s in skills
        ]
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    elif fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(PROJECT_COLUMNS)
            for s in skills:
                writer.writerow([s.id, s.label_fr, s.label_en, "|".join(s.aliases), s.category,
                                 "|".join(s.related), s.source or "", s.description])
    else:
        raise ValueError(f"unknown taxonomy format {fmt!r} (json or csv)")


# ---------------------------------------------------------------------------------------------------------
# ESCO
# ---------------------------------------------------------------------------------------------------------


def _lang_from_name(path: Path) -> str | None:
    for match in _LANG_IN_NAME.finditer(path.stem):
        lang = match.group(1).lower()
        if lang in _LANGS:
            return lang
    return None


def _esco_kind(header: Sequence[str]) -> str | None:
    cols = set(header)
    if all(c in cols for c in _ESCO_REQUIRED):
        return "skills"
    if all(c in cols for c in _ESCO_OCCUPATION_COLUMNS):
        return "occupations"
    for src, dst, _sym in _ESCO_RELATION_LAYOUTS:
        if src in cols and dst in cols:
            return "relations"
    return None


_ErrSink = Callable[[Path, int, str], None]


class _EscoEntry:
    __slots__ = ("uri", "labels", "aliases", "skill_type", "descriptions", "line")

    def __init__(self, uri: str, line: int) -> None:
        self.uri = uri
        self.line = line
        self.labels: dict[str, str] = {}
        self.aliases: list[str] = []
        self.skill_type = ""
        self.descriptions: dict[str, str] = {}


def read_esco(
    paths: StrPath | Iterable[StrPath],
    *,
    lang: str | None = None,
    include_hidden: bool = False,
    strict: bool = False,
) -> ParseResult:
    """Read and merge ESCO ``skills_<lang>.csv`` files (and optional relation files) by ``conceptUri``.

    A file's language comes from its name (``skills_fr.csv`` → ``fr``), else from ``lang``, else English.
    ``include_hidden`` also adds ``hiddenLabels`` (ESCO's search-only variants) to the aliases.
    Rows are streamed; a bad row (no URI, no label, unsupported concept type) is reported with its line.
    """
    path_list = [Path(paths)] if isinstance(paths, (str, PathLike)) else [Path(p) for p in paths]
    path_list = _expand_dirs(path_list)
    multi = len(path_list) > 1
    entries: dict[str, _EscoEntry] = {}
    relations: list[tuple[str, str, bool]] = []
    essential: dict[str, list[str]] = {}
    listed: dict[str, list[str]] = {}
    errors: list[RowError] = []

    def err(p: Path, line: int, reason: str) -> None:
        errors.append(RowError(line, f"{p.name}: {reason}" if multi else reason))

    for path in path_list:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            records = _csv_records(fh)
            header_row = next(records, None)
            if header_row is None:
                continue
            header = [h.strip() for h in header_row[1]]
            kind = _esco_kind(header)
            if kind is None:
                raise TaxonomyFileError(
                    f"{path.name}: line 1: not an ESCO skills or relations file (missing columns "
                    f"{', '.join(_ESCO_REQUIRED)})", [(1, "not an ESCO file")])
            col = {h: i for i, h in enumerate(header)}
            if kind == "relations":
                _read_esco_relations(path, records, col, relations, err)
                continue
            if kind == "occupations":
                _read_esco_occupations(path, records, col, essential, listed, err)
                continue
            file_lang = (_lang_from_name(path) or lang or "en").lower()
            _read_esco_skills(path, records, col, file_lang, include_hidden, entries, err)

    skills = _merge_esco(entries, relations + _co_essential(essential), listed)
    return _finish(skills, errors, strict=strict, name=", ".join(p.name for p in path_list))


def _expand_dirs(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.glob("skills_*.csv")))
            out.extend(sorted(p.glob("broaderRelationsSkillPillar*.csv")))
            out.extend(sorted(p.glob("skillSkillRelations*.csv")))
            out.extend(sorted(p.glob("occupationSkillRelations*.csv")))
        else:
            out.append(p)
    return out


def _read_esco_skills(path: Path, records: Iterator[tuple[int, list[str]]], col: dict[str, int],
                      file_lang: str, include_hidden: bool, entries: dict[str, _EscoEntry],
                      err: _ErrSink) -> None:
    def cell(fields: list[str], name: str) -> str:
        i = col.get(name)
        return fields[i].strip() if i is not None and i < len(fields) else ""

    for line, fields in records:
        if len(fields) > len(col):
            err(path, line, f"{len(fields)} fields, the header has {len(col)}")
            continue
        uri = cell(fields, "conceptUri")
        label = " ".join(cell(fields, "preferredLabel").split())
        concept_type = cell(fields, "conceptType")
        if concept_type and concept_type.lower() not in _ESCO_SKILL_TYPES:
            err(path, line, f"unsupported conceptType {concept_type!r} (expected KnowledgeSkillCompetence)")
            continue
        if not uri:
            err(path, line, "conceptUri is empty")
            continue
        if not esco_id(uri):
            err(path, line, f"conceptUri {uri!r} has no usable last segment")
            continue
        if not label:
            err(path, line, "preferredLabel is empty")
            continue
        entry = entries.get(uri)
        if entry is None:
            entry = entries[uri] = _EscoEntry(uri, line)
        if file_lang in entry.labels:
            err(path, line, f"duplicate conceptUri {uri!r} (language {file_lang})")
            continue
        entry.labels[file_lang] = label
        entry.aliases.extend(cell(fields, "altLabels").splitlines())
        if include_hidden:
            entry.aliases.extend(cell(fields, "hiddenLabels").splitlines())
        if not entry.skill_type:
            entry.skill_type = cell(fields, "skillType")
        description = cell(fields, "description") or cell(fields, "definition")
        if description:
            entry.descriptions.setdefault(file_lang, " ".join(description.split()))


def _read_esco_relations(path: Path, records: Iterator[tuple[int, list[str]]], col: dict[str, int],
                         relations: list[tuple[str, str, bool]], err: _ErrSink) -> None:
    src_name, dst_name, symmetric = next(
        layout for layout in _ESCO_RELATION_LAYOUTS if layout[0] in col and layout[1] in col
    )
    si, di = col[src_name], col[dst_name]
    for line, fields in records:
        if max(si, di) >= len(fields) or not fields[si].strip() or not fields[di].strip():
            err(path, line, f"{src_name} or {dst_name} is empty")
            continue
        relations.append((fields[si].strip(), fields[di].strip(), symmetric))


def _read_esco_occupations(path: Path, records: Iterator[tuple[int, list[str]]], col: dict[str, int],
                           essential: dict[str, list[str]], listed: dict[str, list[str]],
                           err: _ErrSink) -> None:
    oi, ri, si = (col[c] for c in _ESCO_OCCUPATION_COLUMNS)
    for line, fields in records:
        if max(oi, ri, si) >= len(fields) or not fields[oi].strip() or not fields[si].strip():
            err(path, line, "occupationUri or skillUri is empty")
            continue
        if fields[ri].strip().lower() == "essential":
            essential.setdefault(fields[oi].strip(), []).append(fields[si].strip())
        occupation = esco_id(fields[oi])
        if occupation:
            listed.setdefault(fields[si].strip(), []).append(occupation)


def _co_essential(essential: dict[str, list[str]]) -> list[tuple[str, str, bool]]:
    """Skill pairs essential together to at least ``_CO_ESSENTIAL_MIN`` occupations, the strongest
    ``_CO_ESSENTIAL_TOP`` per skill: the occupations' view of which skills go together."""
    counts: dict[tuple[str, str], int] = {}
    for skills in essential.values():
        uniq = sorted(set(skills))
        for i, a in enumerate(uniq):
            for b in uniq[i + 1 :]:
                counts[(a, b)] = counts.get((a, b), 0) + 1
    partners: dict[str, list[tuple[int, str]]] = {}
    for (a, b), n in counts.items():
        if n >= _CO_ESSENTIAL_MIN:
            partners.setdefault(a, []).append((n, b))
            partners.setdefault(b, []).append((n, a))
    out = []
    for a, lst in partners.items():
        for _, b in sorted(lst, key=lambda x: (-x[0], x[1]))[:_CO_ESSENTIAL_TOP]:
            out.append((a, b, False))
    return out


def _pick(values: dict[str, str], order: Sequence[str]) -> str:
    for key in order:
        if values.get(key):
            return values[key]
    return next(iter(values.values()), "")


def _merge_esco(entries: dict[str, _EscoEntry], relations: list[tuple[str, str, bool]],
                listed: dict[str, list[str]]) -> list[TaxonomySkill]:
    related: dict[str, list[str]] = {}
    for src, dst, symmetric in relations:
        if src in entries and dst in entries and src != dst:
            related.setdefault(src, []).append(esco_id(dst))
            if symmetric:
                related.setdefault(dst, []).append(esco_id(src))
    skills = []
    for uri, entry in sorted(entries.items(), key=lambda kv: kv[1].line):
        label_fr = _pick(entry.labels, ("fr", "en"))
        label_en = _pick(entry.labels, ("en", "fr"))
        skills.append(TaxonomySkill(
            id=esco_id(uri),
            label_fr=label_fr,
            label_en=label_en,
            aliases=_dedupe([*entry.labels.values(), *entry.aliases], exclude=(label_fr, label_en)),
            category=entry.skill_type or "ESCO",
            related=tuple(dict.fromkeys(related.get(uri, ()))),
            source=uri,
            description=_pick(entry.descriptions, ("fr", "en")),
            occupations=tuple(dict.fromkeys(listed.get(uri, ()))),
        ))
    return skills


# ---------------------------------------------------------------------------------------------------------
# Detection and checks
# ---------------------------------------------------------------------------------------------------------


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return [h.strip() for h in next(csv.reader([first], delimiter=delimiter), [])]


def detect_and_read(path_or_paths: StrPath | Iterable[StrPath], *, lang: str | None = None,
                    strict: bool = False) -> ParseResult:
    """Read one or several taxonomy files, choosing the reader by content.

    CSV files whose header carries ESCO columns (``conceptUri``/``preferredLabel`` or relation columns) and
    directories (an unzipped ESCO download) are read together with :func:`read_esco`; every other file is
    read with :func:`read_project_taxonomy`. Results are concatenated; when several files are read, each
    error's reason starts with its file name.
    """
    paths = ([Path(path_or_paths)] if isinstance(path_or_paths, (str, PathLike))
             else [Path(p) for p in path_or_paths])
    esco: list[Path] = []
    project: list[Path] = []
    for path in paths:
        if path.is_dir():
            esco.append(path)
            continue
        if not path.is_file():
            raise TaxonomyFileError(f"{path}: no such file")
        with path.open("rb") as fh:
            text_start = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
        if text_start[:1] in (b"[", b"{"):
            project.append(path)
        elif _esco_kind(_csv_header(path)) is not None:
            esco.append(path)
        else:
            project.append(path)
    multi = len(paths) > 1
    skills: list[TaxonomySkill] = []
    errors: list[RowError] = []
    if esco:
        result = read_esco(esco, lang=lang, strict=strict)
        skills.extend(result.skills)
        prefix = multi and len(esco) == 1
        errors.extend(RowError(e.line, f"{esco[0].name}: {e.reason}") if prefix else e for e in result.errors)
    for path in project:
        result = read_project_taxonomy(path, strict=strict)
        skills.extend(result.skills)
        errors.extend(RowError(e.line, f"{path.name}: {e.reason}") if multi else e for e in result.errors)
    return ParseResult(skills, errors)


def check_taxonomy(skills: Sequence[TaxonomySkill], *, known_ids: Iterable[str] = ()) -> list[str]:
    """Consistency problems of a whole taxonomy (empty list when sound), for curation and tests.

    Duplicate ids, ``related`` ids that are neither in ``skills`` nor in ``known_ids``, and aliases or labels
    that lead to two different skills (compared case- and accent-insensitively).
    """
    problems: list[str] = []
    ids = [s.id for s in skills]
    seen: set[str] = set()
    for skill_id in ids:
        if skill_id in seen:
            problems.append(f"duplicate id {skill_id!r}")
        seen.add(skill_id)
    valid = seen | set(known_ids)
    owners: dict[str, set[str]] = {}
    for s in skills:
        for rel in s.related:
            if rel not in valid:
                problems.append(f"{s.id}: unknown related id {rel!r}")
        for term in {_fold(t) for t in (s.label_fr, s.label_en, *s.aliases) if t}:
            owners.setdefault(term, set()).add(s.id)
    for term, who in sorted(owners.items()):
        if len(who) > 1:
            problems.append(f"term {term!r} is shared by {sorted(who)}")
    return problems
