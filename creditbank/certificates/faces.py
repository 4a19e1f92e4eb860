"""The pre-subset CJK faces certificates are printed with, cut once and kept for every process.

WeasyPrint subsets every embedded font per document but keeps glyph ids ("retain gids"): a subset
of Noto CJK (65 535 glyphs, hanzi at high ids) still carries metrics and empty outlines for every id
below the highest one used — ~100–160 kB per face, and most of the render time. So each face is cut
down to GB 2312 (6 763 hanzi) plus Latin and punctuation with compact ids, and handed to WeasyPrint
by @font-face. Any character outside it (a rare name character) falls back to the full system font.

Cutting the three faces takes most of a second of CPU and yields ~6 MB, so it is done once and kept
in a cache shared by every process of the user (``cache_dir``): a file named by what it was made
from — the source font file (path, face index, size, modification time), the code-point ranges,
this module's own code and the subsetter's version — written to a temporary name and renamed into
place, so two workers starting together never read half a file. A font package upgrade or a new
release of this code makes new names; entries unused for ``STALE_DAYS`` are removed. When the cache
cannot be written, the faces go to a temporary folder the caller removes (``Faces.temporary``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STALE_DAYS = 30
"""A cached face no process has used for this long (another font version, an older release) is
removed by the next process that starts."""
_PARTIAL = ".partial-"


def run_tool(*args: str) -> str:
    """A command's standard output, or "" when it is missing, fails or hangs (fc-match, fc-list)."""
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""


@dataclass(frozen=True)
class _Face:
    css_family: str
    weight: int
    pattern: str
    family: str


_FACES = (
    _Face("Noto Sans CJK SC GB", 400, "Noto Sans CJK SC:weight=regular", "Noto Sans CJK SC"),
    _Face("Noto Sans CJK SC GB", 700, "Noto Sans CJK SC:weight=bold", "Noto Sans CJK SC"),
    _Face("Noto Serif CJK SC GB", 700, "Noto Serif CJK SC:weight=bold", "Noto Serif CJK SC"),
)
_NON_HAN_RANGES = (
    (0x20, 0x7E),
    (0xA0, 0x24F),
    (0x2000, 0x206F),
    (0x2100, 0x218F),
    (0x2460, 0x24FF),
    (0x3000, 0x303F),
    (0xFF00, 0xFFEF),
)
_LAYOUT_FEATURES = (b"kern", b"liga", b"ccmp", b"mark", b"mkmk", b"calt", b"clig", b"rlig")
_DROP_TABLES = (b"vhea", b"vmtx", b"VORG")  # vertical writing: never used here


def _gb2312_han() -> list[tuple[int, int]]:
    """GB 2312's hanzi as code-point ranges."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x4E00, 0xA000):
        if len(chr(code).encode("gb2312", "ignore")) == 2:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return ranges


def _subset_face(path: str, index: int, ranges: list[tuple[int, int]]) -> bytes | None:
    """One face of ``path`` cut down to the code points in ``ranges`` (HarfBuzz's subsetter,
    through ``uharfbuzz``, which ships its own HarfBuzz: no system library needed)."""
    import uharfbuzz as hb

    try:
        face = hb.Face(hb.Blob.from_file_path(path), index)
    except (OSError, hb.HarfBuzzError):
        return None
    subset_input = hb.SubsetInput()
    for first, last in ranges:
        subset_input.unicode_set.add_range(first, last)
    features = subset_input.layout_feature_tag_set
    features.clear()  # no closure over other regions' variants: ~13 000 → ~7 300 glyphs
    features.update(int.from_bytes(tag, "big") for tag in _LAYOUT_FEATURES)
    subset_input.drop_table_tag_set.update(int.from_bytes(tag, "big") for tag in _DROP_TABLES)
    try:
        result = hb.subset(face, subset_input)
    except hb.HarfBuzzError:
        return None
    data = result.blob.data if result is not None else b""
    return bytes(data) or None


def _identity_charset(otf: bytes) -> bytes | None:
    """Make a CID-keyed CFF font's charset the identity (CID n = glyph n); None if impossible.

    A compact subset keeps each glyph's original CID (glyph 6 574 may be CID 42 543), but
    WeasyPrint writes glyph ids as the codes of a CIDFontType0 font, which PDF readers map
    through the charset as CIDs: without this, strict readers would draw the wrong glyphs.
    Identity also lets the charset shrink from 2 bytes per glyph to 5 bytes. Patched in place
    (the tail of the old charset becomes padding), so no offset moves.
    """
    data = bytearray(otf)
    num_tables = int.from_bytes(data[4:6], "big")
    records = {bytes(data[12 + 16 * i : 16 + 16 * i]): 12 + 16 * i for i in range(num_tables)}
    if b"CFF " not in records:
        return None
    record = records[b"CFF "]
    cff = int.from_bytes(data[record + 8 : record + 12], "big")
    cff_length = int.from_bytes(data[record + 12 : record + 16], "big")

    def index_end(at: int) -> tuple[int, list[bytes]]:
        count = int.from_bytes(data[at : at + 2], "big")
        if count == 0:
            return at + 2, []
        size = data[at + 2]
        offsets = [
            int.from_bytes(data[at + 3 + i * size : at + 3 + (i + 1) * size], "big") for i in range(count + 1)
        ]
        base = at + 2 + (count + 1) * size
        return base + offsets[-1], [bytes(data[base + a : base + b]) for a, b in itertools.pairwise(offsets)]

    names_end, _ = index_end(cff + data[cff + 2])
    _, top_dicts = index_end(names_end)
    operators = _dict_operators(top_dicts[0]) if top_dicts else {}
    if (12, 30) not in operators or 15 not in operators or 17 not in operators:
        return None  # not CID-keyed
    glyphs = int.from_bytes(data[cff + operators[17][0] : cff + operators[17][0] + 2], "big")
    start = cff + operators[15][0]
    old_format, at, covered = data[start], start + 1, 1
    cids: list[int] = []
    while covered < glyphs:
        first = int.from_bytes(data[at : at + 2], "big")
        if old_format == 0:
            cids.append(first)
            at, covered = at + 2, covered + 1
            continue
        width = 1 if old_format == 1 else 2
        left = int.from_bytes(data[at + 2 : at + 2 + width], "big")
        cids.extend(range(first, first + left + 1))
        at, covered = at + 2 + width, covered + left + 1
    if cids == list(range(1, glyphs)):
        return otf
    new = b"\x02" + (1).to_bytes(2, "big") + (glyphs - 2).to_bytes(2, "big")
    if old_format not in (0, 1, 2) or glyphs < 2 or len(new) > at - start:
        return None
    data[start:at] = new + bytes(at - start - len(new))
    # Table checksum, then the whole-font adjustment in 'head'.
    data[record + 4 : record + 8] = _checksum(data[cff : cff + cff_length]).to_bytes(4, "big")
    if b"head" in records:
        head = int.from_bytes(data[records[b"head"] + 8 : records[b"head"] + 12], "big")
        data[head + 8 : head + 12] = bytes(4)
        data[head + 8 : head + 12] = ((0xB1B0AFBA - _checksum(data)) & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(data)


def _checksum(block: bytes | bytearray) -> int:
    padded = bytes(block) + bytes(-len(block) % 4)
    return sum(int.from_bytes(padded[i : i + 4], "big") for i in range(0, len(padded), 4)) & 0xFFFFFFFF


def _dict_operators(top: bytes) -> dict[int | tuple[int, int], list[int]]:
    """A CFF DICT's operators with their integer operands (reals are skipped)."""
    operators: dict[int | tuple[int, int], list[int]] = {}
    operands: list[int] = []
    i = 0
    while i < len(top):
        b0 = top[i]
        if b0 <= 21:
            key: int | tuple[int, int] = (12, top[i + 1]) if b0 == 12 else b0
            operators[key], operands = operands, []
            i += 2 if b0 == 12 else 1
        elif b0 == 28:
            operands.append(int.from_bytes(top[i + 1 : i + 3], "big", signed=True))
            i += 3
        elif b0 == 29:
            operands.append(int.from_bytes(top[i + 1 : i + 5], "big", signed=True))
            i += 5
        elif b0 == 30:  # real number: nibbles up to an 0xf nibble
            i += 1
            while i < len(top) and (top[i] & 0x0F) != 0x0F and (top[i] >> 4) != 0x0F:
                i += 1
            i += 1
        elif b0 <= 246:
            operands.append(b0 - 139)
            i += 1
        elif b0 <= 250:
            operands.append((b0 - 247) * 256 + top[i + 1] + 108)
            i += 2
        elif b0 <= 254:
            operands.append(-(b0 - 251) * 256 - top[i + 1] - 108)
            i += 2
        else:
            i += 1
    return operators


def _match_face(face: _Face) -> tuple[str, int] | None:
    if not shutil.which("fc-match"):
        return None
    answer = run_tool("fc-match", "-f", "%{family}\t%{file}\t%{index}", face.pattern)
    families, path, index = ([*answer.split("\t"), "", ""])[:3]
    if face.family not in families.split(",") or not os.path.exists(path) or not index.isdigit():
        return None
    return path, int(index)


def default_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/creditbank/fonts``, else ``~/.cache/creditbank/fonts``; None without a home."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "creditbank" / "fonts"
    home = os.path.expanduser("~")
    return Path(home) / ".cache" / "creditbank" / "fonts" if os.path.isabs(home) else None


@dataclass(frozen=True)
class Faces:
    css: str
    """The @font-face rules ("" when no face could be cut: the system fonts are used directly)."""
    temporary: Path | None
    """This process's own folder the faces were written to when the cache could not be: the caller
    removes it when done."""
    cut: int
    """Faces cut by this call; 0 when every face came from the cache."""


def prepare(cache_dir: Path | None) -> Faces:
    """The pre-subset faces, from ``cache_dir`` when they are there, else cut and stored there (or,
    if it cannot be written, in a temporary folder)."""
    ranges = sorted([*_NON_HAN_RANGES, *_gb2312_han()])
    sources = [(face, _match_face(face)) for face in _FACES]
    wanted = [(face, found, _cache_name(*found, ranges)) for face, found in sources if found is not None]
    for face, found in sources:
        if found is None:
            log.info("no pre-subset for %s; the system font is used directly", face.pattern)
    temporary: Path | None = None
    cut, rules = 0, []
    try:
        for face, (path, index), name in wanted:
            target = cache_dir / name if cache_dir is not None else None
            if target is None or not _usable(target):
                data = _subset_face(path, index, ranges)
                data = _identity_charset(data) if data else None
                if data is None:
                    log.info("no pre-subset for %s; the system font is used directly", face.pattern)
                    continue
                cut += 1
                target = None
                problem: object = "no home folder"
                if cache_dir is not None and temporary is None:
                    try:
                        target = _store(cache_dir, name, data)
                    except OSError as error:
                        problem = error
                if target is None:
                    if temporary is None:
                        temporary = Path(tempfile.mkdtemp(prefix="creditbank-fonts-"))
                        _warn_unwritable(cache_dir, problem)
                    target = _store(temporary, name, data)
            rules.append(
                f'@font-face {{ font-family: "{face.css_family}"; font-weight: {face.weight}; '
                f'font-style: normal; src: url("{target.as_uri()}"); }}'
            )
    except BaseException:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    if cache_dir is not None:
        _prune(cache_dir, keep={name for _, _, name in wanted})
    return Faces("\n".join(rules), temporary, cut)


def _warn_unwritable(cache_dir: Path | None, problem: object) -> None:
    log.warning(
        "字体缓存目录 %s 不可写（%s）：预裁剪的中文字体写入临时目录，进程结束时删除；每个进程都要重新裁剪。"
        "请设置 CREDITBANK_FONT_CACHE_DIR。/ The font cache folder %s cannot be written (%s): the "
        "pre-subset CJK faces go to a temporary folder removed when the process ends, and every process "
        "cuts them again. Set CREDITBANK_FONT_CACHE_DIR to a writable folder.",
        cache_dir,
        problem,
        cache_dir,
        problem,
    )


_code_digest: bytes | None = None


def _code() -> bytes:
    """What cut the faces: this module's source and the subsetter's version (a change to either
    makes new cache names, so no process uses faces cut by other code)."""
    global _code_digest
    if _code_digest is None:
        import uharfbuzz

        try:
            source = Path(__file__).read_bytes()
        except OSError:  # no source file (a frozen build): the package version stands for it
            from creditbank import __version__

            source = __version__.encode()
        _code_digest = hashlib.sha256(source + b"\0" + uharfbuzz.__version__.encode()).digest()
    return _code_digest


def _cache_name(path: str, index: int, ranges: list[tuple[int, int]]) -> str:
    stat = os.stat(path)
    source = repr((os.path.realpath(path), index, stat.st_size, stat.st_mtime_ns, ranges)).encode()
    return hashlib.sha256(_code() + source).hexdigest()[:32] + ".otf"


def _usable(target: Path) -> bool:
    """A complete face (names only ever appear complete, by rename; this guards against a file
    emptied or damaged since). Its time is refreshed: it was used now (see ``_prune``)."""
    try:
        with open(target, "rb") as file:
            if file.read(4) != b"OTTO" or os.fstat(file.fileno()).st_size < 1024:
                return False
    except OSError:
        return False
    with contextlib.suppress(OSError):  # a read-only cache still serves
        os.utime(target)
    return True


def _store(folder: Path, name: str, data: bytes) -> Path:
    """``data`` as ``folder/name``, complete or not at all: written under a temporary name, then
    renamed over (atomic on POSIX), so a process starting meanwhile never reads half a face."""
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=folder, prefix=_PARTIAL, suffix=".otf")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(partial, 0o644)  # mkstemp's 0600 would hide it from another service user sharing the cache
        os.replace(partial, folder / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    return folder / name


def _prune(folder: Path, keep: set[str]) -> None:
    """Remove faces unused for ``STALE_DAYS`` (cut from another font file or by other code) and
    partial files a killed process left (older than an hour)."""
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name in keep or not entry.name.endswith(".otf"):
            continue
        age = STALE_DAYS * 86400 if not entry.name.startswith(_PARTIAL) else 3600
        with contextlib.suppress(OSError):
            if now - entry.stat().st_mtime > age:
                os.unlink(entry.path)
