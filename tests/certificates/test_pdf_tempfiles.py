"""Printing certificates leaves nothing behind in the temporary directory, and the CJK faces are cut
once per machine, not once per process.

Every process that printed a PDF used to leave ~12 MB in /tmp when it was stopped (a nightly
restart, a recycled worker): its own folder of pre-subset faces (``creditbank-fonts-*``) and
WeasyPrint's copies of them (``weasyprint-*``), because uvicorn ends the process with the signal
that stopped it and no exit handler runs. Real ``creditbank serve`` processes here, each with
``TMPDIR`` pointing at a fresh folder, stopped the way an operator stops them.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fontTools.ttLib import TTFont

from creditbank.certificates import faces
from creditbank.certificates.pdf import Renderer
from tests.certificates.test_pdf import credential_bytes, embedded_opentype_fonts, make_view, pdf_pages
from tests.test_serve import bank_env, certified_learner, free_port, issue, serving

ROOT = Path(__file__).resolve().parents[2]


def cache_entries(cache: Path) -> dict[str, int]:
    """The cached faces by name, with their inode: a face cut again is a new file (renamed over)."""
    return {entry.name: entry.stat().st_ino for entry in os.scandir(cache)}


def assert_printed_with_the_cut_faces(pdf: bytes, name: str) -> None:
    """Real Chinese glyphs: the name is in the text layer, and the embedded fonts are the
    pre-subset faces (compact glyph ids renumbered as identity CIDs — the system font's are not)."""
    assert name in pdf_pages(pdf)[0][2]
    fonts = embedded_opentype_fonts(pdf)
    assert fonts
    for data in fonts:
        order = TTFont(io.BytesIO(data)).getGlyphOrder()
        assert len(order) > 10 and order == [".notdef"] + [f"cid{i:05d}" for i in range(1, len(order))]


class TestAServer:
    def test_stopped_leaves_nothing_in_tmpdir_and_a_restart_cuts_no_face(self, tmp_path: Path) -> None:
        temporary, cache = tmp_path / "tmp", tmp_path / "font-cache"
        temporary.mkdir()
        env = bank_env(tmp_path, TMPDIR=str(temporary), CREDITBANK_FONT_CACHE_DIR=str(cache))

        # systemctl stop, kill: SIGTERM.
        with serving(env, free_port(), tmp_path) as bank:
            certificate = issue(bank.http, certified_learner(bank.http))
            pdf = bank.http.get(f"/api/v1/certificates/{certificate['id']}.pdf")
            assert pdf.status_code == 200, pdf.text
            assert any(entry.name.startswith("weasyprint-") for entry in temporary.iterdir())
        assert bank.process.returncode != -signal.SIGKILL  # stopped by itself, not killed after 30 s
        assert sorted(os.listdir(temporary)) == []
        assert_printed_with_the_cut_faces(pdf.content, "张桂兰")
        cut = cache_entries(cache)
        assert len(cut) == 3 and all(name.endswith(".otf") for name in cut)

        # Started again (another process), stopped with Ctrl-C: the faces are reused as they are.
        with serving(env, free_port(), tmp_path, stop=signal.SIGINT) as bank:
            again = bank.http.get(f"/api/v1/certificates/{certificate['id']}.pdf")
            assert again.status_code == 200, again.text
        assert bank.process.returncode != -signal.SIGKILL
        assert cache_entries(cache) == cut
        assert_printed_with_the_cut_faces(again.content, "张桂兰")
        assert sorted(os.listdir(temporary)) == []

    def test_with_two_workers_each_cleans_up_when_stopped(self, tmp_path: Path) -> None:
        temporary = tmp_path / "tmp"
        temporary.mkdir()
        env = bank_env(
            tmp_path, TMPDIR=str(temporary), CREDITBANK_FONT_CACHE_DIR=str(tmp_path / "font-cache")
        )
        with serving(env, free_port(), tmp_path, "--workers", "2") as bank:
            world = certified_learner(bank.http)
            certificate = issue(bank.http, world)

            def download(_: int) -> int:  # a connection each: the workers share the listening socket
                with httpx.Client(base_url=bank.url, timeout=120) as http:
                    return http.get(f"/api/v1/certificates/{certificate['id']}.pdf").status_code

            with ThreadPoolExecutor(6) as pool:
                assert list(pool.map(download, range(12))) == [200] * 12
            assert any(entry.name.startswith("weasyprint-") for entry in temporary.iterdir())
        assert bank.process.returncode != -signal.SIGKILL
        assert sorted(os.listdir(temporary)) == []


RENDER_AND_EXIT = """
import sys
from pathlib import Path
from creditbank.certificates.pdf import Renderer
from tests.certificates.test_pdf import credential_bytes, make_view
renderer = Renderer(font_cache_dir=Path(sys.argv[1]))
Path(sys.argv[2]).write_bytes(renderer.render(make_view(), credential_json=credential_bytes()))
"""


class TestACacheThatCannotBeWritten:
    def test_a_process_cuts_into_a_temporary_folder_and_removes_it_at_exit(self, tmp_path: Path) -> None:
        """A read-only home, a service user without one: still correct PDFs, nothing left behind."""
        temporary = tmp_path / "tmp"
        temporary.mkdir()
        blocked = tmp_path / "a-file"
        blocked.write_text("not a folder")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBANK_")}
        done = subprocess.run(
            [sys.executable, "-c", RENDER_AND_EXIT, str(blocked / "fonts"), str(tmp_path / "out.pdf")],
            env=env | {"TMPDIR": str(temporary), "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "CREDITBANK_FONT_CACHE_DIR" in done.stderr  # the warning names the fix
        assert_printed_with_the_cut_faces((tmp_path / "out.pdf").read_bytes(), make_view().learner_name)
        assert sorted(os.listdir(temporary)) == []


POOL = """
import multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

renderer = None

def start():
    global renderer
    from creditbank.certificates.pdf import Renderer
    renderer = Renderer(font_cache_dir=Path(sys.argv[2]))

def render(_):
    from tests.certificates.test_pdf import credential_bytes, make_view
    return len(renderer.render(make_view(), credential_json=credential_bytes()))

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    with ProcessPoolExecutor(2, mp_context=context, initializer=start) as pool:
        assert all(list(pool.map(render, range(4))))
        print(len(os.listdir(os.environ["TMPDIR"])))
"""


class TestAPoolOfRenderWorkers:
    @pytest.mark.parametrize("start", ["spawn", "fork"])
    def test_each_worker_removes_its_folders_when_the_pool_shuts_down(
        self, tmp_path: Path, start: str
    ) -> None:
        """A worker started by fork ends with os._exit: no exit handler runs there."""
        temporary = tmp_path / "tmp"
        temporary.mkdir()
        script = tmp_path / "pool.py"
        script.write_text(POOL)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBANK_")}
        done = subprocess.run(
            [sys.executable, str(script), start, str(tmp_path / "font-cache")],
            env=env | {"TMPDIR": str(temporary), "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert int(done.stdout) >= 1  # WeasyPrint's folders while the workers were alive
        assert sorted(os.listdir(temporary)) == []


@pytest.fixture
def own_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's temporary directory, for WeasyPrint's ``mkdtemp``, pointed at a fresh folder."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


class TestRenderer:
    def test_close_removes_weasyprints_copies_and_refuses_to_render_after(
        self, own_tmpdir: Path, tmp_path: Path
    ) -> None:
        renderer = Renderer(font_cache_dir=tmp_path / "cache")
        renderer.render(make_view(), credential_json=credential_bytes())
        assert [p.name[:11] for p in own_tmpdir.iterdir()] == ["weasyprint-"]
        renderer.close()
        assert list(own_tmpdir.iterdir()) == []
        with pytest.raises(RuntimeError, match="closed"):
            renderer.render(make_view(), credential_json=credential_bytes())
        renderer.close()  # twice is harmless

    def test_a_second_renderer_reuses_the_cached_faces(self, own_tmpdir: Path, tmp_path: Path) -> None:
        cache = tmp_path / "cache"
        first = faces.prepare(cache)
        assert first.cut == 3 and first.temporary is None
        entries = cache_entries(cache)
        second = faces.prepare(cache)
        assert second.cut == 0 and second.css == first.css
        assert cache_entries(cache) == entries
        renderer = Renderer(font_cache_dir=cache)
        try:
            pdf = renderer.render(make_view(), credential_json=credential_bytes())
        finally:
            renderer.close()
        assert cache_entries(cache) == entries
        assert_printed_with_the_cut_faces(pdf, make_view().learner_name)
        assert list(own_tmpdir.iterdir()) == []

    def test_a_damaged_cached_face_is_cut_again(self, own_tmpdir: Path, tmp_path: Path) -> None:
        cache = tmp_path / "cache"
        faces.prepare(cache)
        damaged = sorted(cache.iterdir())[0]
        damaged.write_bytes(b"")  # a full disk, a careless clean-up
        assert faces.prepare(cache).cut == 1
        assert damaged.read_bytes()[:4] == b"OTTO"
        assert not [p for p in cache.iterdir() if p.name.startswith(".partial-")]

    def test_faces_unused_for_a_month_are_removed_and_recent_ones_kept(self, tmp_path: Path) -> None:
        """Faces cut from an older font package or by an older release: gone after STALE_DAYS."""
        cache = tmp_path / "cache"
        faces.prepare(cache)
        current = cache_entries(cache)
        old, recent, partial = (
            cache / ("0" * 32 + ".otf"),
            cache / ("1" * 32 + ".otf"),
            cache / ".partial-x.otf",
        )
        for path in (old, recent, partial):
            path.write_bytes(b"OTTO")
        month_ago = os.stat(old).st_mtime - (faces.STALE_DAYS + 1) * 86400
        os.utime(old, (month_ago, month_ago))
        os.utime(partial, (month_ago, month_ago))
        for name in current:  # in use though old: kept, and their time refreshed
            os.utime(cache / name, (month_ago, month_ago))
        faces.prepare(cache)
        assert sorted(cache_entries(cache)) == sorted([*current, recent.name])
