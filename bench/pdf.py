"""Certificate PDF benchmark: the product path vs bare WeasyPrint, then 1 process vs 2.

    python bench/pdf.py [--n 1000] [--samples 30] [--workers 2] [--http | --only-http] [--flood 12]
                        [--only-seal]

1. Per certificate, in the same run and interleaved (so machine noise hits both alike):
   * product — ``Renderer.render(view, credential_json=…)``: Jinja template, QR code
     (segno, fixed mask, PNG), WeasyPrint, the embedded credential and /AF finisher;
   * bare — ``weasyprint.HTML(string=html).write_pdf(font_config=shared)`` of exactly the
     HTML the renderer produced for that certificate (``Renderer.html``, not timed), with
     the renderer's own FontConfiguration — the floor for this page design.
   For an achievement (1 page) and a 25-line transcript (3 pages). Target: product/bare
   ≤ 1.15 on the median.
1b. The seal on the PDF's bytes (``kit.pdfseal``, what every served PDF carries): the same
   certificate rendered sealed (``render(seal=Issuer.seal_pdf)``) and unsealed, interleaved, and
   the seal's own work — sealing (SHA-256 of the file, one Ed25519 signature) and checking.
   ``--only-seal`` runs this part alone.
2. A batch of N achievement certificates (all different: ids, names, 600-character QR
   URLs), rendered by a pool of 1 worker process, then by a pool of ``--workers``
   processes, each worker with its own Renderer created and warmed up before the clock
   starts ("spawn" start method: no fork of an initialised Pango). Target: speed-up ≥ 1.7
   with 2 workers on a 2-core machine.
3. ``--http`` / ``--only-http``: over HTTP against real servers on one database — a repeated
   download of a certificate's PDF (served from the process's store) against a download that
   renders (a second server keeping nothing), interleaved; target ≤ 5 %. Then ``/healthz``
   latency idle and during a flood of concurrent downloads of different PDFs (one render slot,
   a queue of 4: the rest refused with ``pdf_busy``).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import random
import statistics
import string
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from creditbank.certificates.pdf import CertificateLine, CertificateView, Renderer  # noqa: E402

RATIO_TARGET = 1.15
SPEEDUP_TARGET = 1.7
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "秀英桂兰玉兰凤英建华建国志强丽华淑珍德明国庆春梅文静红梅海燕永福金凤振华秀珍玉梅瑞芳"
COURSES = [
    ("居民用电安全", "Household electrical safety"),
    ("智能手机应用入门", "Getting started with smartphones"),
    ("太极拳（二十四式）", "Tai chi, 24 forms"),
    ("中医养生与保健基础知识", None),
    ("书法：楷书临摹", "Calligraphy: regular script"),
    ("老年营养与膳食搭配", "Nutrition for older adults"),
    ("防范电信网络诈骗", "Avoiding phone and online fraud"),
    ("合唱基础与视唱练耳", "Choral singing basics"),
]
INSTITUTIONS = ["重庆市永川区社区教育学院", "永川区老年大学", "重庆开放大学永川分校"]
TITLES = {
    "achievement": ("学习成果证书", "Certificate of Learning Achievement"),
    "transcript": ("学分成绩单", "Transcript"),
}
CONTEXTS = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]
B64URL = string.ascii_letters + string.digits + "-_"


def make_view(i: int, *, kind: str = "achievement", lines: int = 1) -> CertificateView:
    rng = random.Random(i)
    certificate_id = f"crt_{rng.getrandbits(64):016x}"
    url = f"http://127.0.0.1:8000/v/{certificate_id}#CB1." + "".join(rng.choice(B64URL) for _ in range(550))
    name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2))))
    chosen = [COURSES[(i + k) % len(COURSES)] for k in range(lines)]
    certificate_lines = tuple(
        CertificateLine(
            title_zh=zh,
            title_en=en,
            credits=f"{rng.choice((0.5, 1, 1.5, 2)):g}",
            date=f"2025-{k % 12 + 1:02d}-{rng.randint(1, 28):02d}",
            institution=rng.choice(INSTITUTIONS),
        )
        for k, (zh, en) in enumerate(chosen)
    )
    total = sum(float(line.credits) for line in certificate_lines)
    return CertificateView(
        certificate_id=certificate_id,
        kind=kind,
        title_zh=TITLES[kind][0],
        title_en=TITLES[kind][1],
        learner_name=name,
        id_masked=f"5001{rng.randint(10, 99)}********{rng.randint(100, 999)}X",
        account_no=f"CB{rng.randint(10**9, 10**10 - 1)}",
        issuer_name_zh="学分银行",
        issuer_name_en="creditbank learning-credit bank",
        issuer_did="did:web:127.0.0.1%3A8000",
        issued_on="2026-03-01",
        total_credits=f"{total:g}",
        lines=certificate_lines,
        verify_url=url,
    )


def credential_for(view: CertificateView) -> bytes:
    """A stand-in of realistic size (~3 kB) for the signed credential."""
    rng = random.Random(view.certificate_id)
    credential = {
        "@context": CONTEXTS,
        "id": f"http://127.0.0.1:8000/credentials/{view.certificate_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": view.issuer_did, "name": view.issuer_name_zh},
        "credentialSubject": {
            "name": view.learner_name,
            "identifier": view.id_masked,
            "results": [line.__dict__ for line in view.lines],
        },
        "proof": [
            {
                "type": "DataIntegrityProof",
                "cryptosuite": suite,
                "proofValue": "z" + "".join(rng.choices(string.ascii_letters + string.digits, k=86)),
            }
            for suite in ("eddsa-rdfc-2022", "eddsa-jcs-2022")
        ],
    }
    return json.dumps(credential, ensure_ascii=False, indent=2).encode()


# --- 1. product vs bare ----------------------------------------------------------------


def issuer_sealer(workdir: Path):
    """The issuer's ``seal_pdf`` with a fresh key store, as the app seals every PDF it serves."""
    from creditbank.certificates.service import Issuer
    from creditbank.config import Settings

    return Issuer(Settings(keys_dir=workdir / "keys", database_url="sqlite://")).seal_pdf


def seal_cost(renderer: Renderer, seal, *, kind: str, lines: int, samples: int) -> dict:
    """Sealed vs unsealed render of the same certificate, interleaved; and the seal's own parts:
    sealing the bytes (SHA-256 of the file, one Ed25519 signature) and checking them."""
    from creditbank.kit import pdfseal

    sealed_times, bare_times, seal_only, check_only = [], [], [], []
    public = None
    for i in range(-2, samples):
        view = make_view(20_000 + i, kind=kind, lines=lines)
        credential = credential_for(view)
        for which in ("sealed", "bare") if i % 2 == 0 else ("bare", "sealed"):
            gc.collect()
            start = time.perf_counter()
            renderer.render(view, credential_json=credential, seal=seal if which == "sealed" else None)
            elapsed = time.perf_counter() - start
            if i >= 0:
                (sealed_times if which == "sealed" else bare_times).append(elapsed)
        slotted = renderer.render(view, credential_json=credential, seal=lambda data: data)
        start = time.perf_counter()
        sealed = seal(slotted)
        middle = time.perf_counter()
        found = pdfseal.find(sealed)
        assert found is not None
        if public is None:
            public = seal.__self__.keys.get(found.kid).public_key
        assert found.verify(public)
        end = time.perf_counter()
        if i >= 0:
            seal_only.append(middle - start)
            check_only.append(end - middle)
    return {
        "kind": f"{kind} ({lines} line{'s' if lines > 1 else ''})",
        "sealed": statistics.median(sealed_times),
        "bare": statistics.median(bare_times),
        "difference": statistics.median(s - b for s, b in zip(sealed_times, bare_times)),
        "seal": statistics.median(seal_only),
        "check": statistics.median(check_only),
    }


def seal_part(renderer: Renderer, samples: int) -> None:
    import tempfile

    print(f"\n1b. The seal on the PDF's bytes, {samples} certificates per kind, interleaved (ms)")
    print(f"{'document':<22}{'sealed':>9}{'unsealed':>10}{'diff':>8}{'seal()':>9}{'find+verify':>13}")
    with tempfile.TemporaryDirectory(prefix="bench-seal-") as workdir:
        seal = issuer_sealer(Path(workdir))
        for kind, lines in (("achievement", 1), ("transcript", 25)):
            r = seal_cost(renderer, seal, kind=kind, lines=lines, samples=samples)
            print(
                f"{r['kind']:<22}{1000 * r['sealed']:>9.1f}{1000 * r['bare']:>10.1f}{1000 * r['difference']:>8.1f}"
                f"{1000 * r['seal']:>9.2f}{1000 * r['check']:>13.2f}"
            )
    print("   diff: median of the per-certificate differences; seal(), find+verify: the seal's own work")


def compare(renderer: Renderer, *, kind: str, lines: int, samples: int) -> dict:
    import weasyprint

    product, bare, sizes = [], [], []
    for i in range(-2, samples):  # two warm-up rounds, not recorded
        view = make_view(10_000 + i, kind=kind, lines=lines)
        credential = credential_for(view)
        html = renderer.html(view)
        first_product = i % 2 == 0  # alternate the order
        for which in ("product", "bare") if first_product else ("bare", "product"):
            gc.collect()  # a collection inside one timing but not the other is noise
            start = time.perf_counter()
            if which == "product":
                pdf = renderer.render(view, credential_json=credential)
            else:
                weasyprint.HTML(string=html).write_pdf(font_config=renderer.font_config)
            elapsed = time.perf_counter() - start
            if i >= 0:
                (product if which == "product" else bare).append(elapsed)
                if which == "product":
                    sizes.append(len(pdf))
    return {
        "kind": f"{kind} ({lines} line{'s' if lines > 1 else ''})",
        "product": product,
        "bare": bare,
        "ratio": statistics.median(p / b for p, b in zip(product, bare)),
        "size": statistics.median(sizes),
    }


# --- 2. batch in 1 vs k processes -------------------------------------------------------

_worker_renderer: Renderer | None = None


def _init_worker() -> None:
    global _worker_renderer
    _worker_renderer = Renderer()
    for i in range(3):  # warm up fonts, template, WeasyPrint caches
        view = make_view(-1 - i)
        _worker_renderer.render(view, credential_json=credential_for(view))


def _ready(delay: float) -> int:
    time.sleep(delay)  # holds this worker so the next one gets the next call
    return os.getpid()


def _render_chunk(indexes: list[int]) -> tuple[int, int, float]:
    assert _worker_renderer is not None
    cpu = time.process_time()
    total = 0
    for i in indexes:
        view = make_view(i)
        total += len(_worker_renderer.render(view, credential_json=credential_for(view)))
    return len(indexes), total, time.process_time() - cpu


def _machine_busy_seconds() -> float:
    """CPU-seconds spent by every process on the machine so far (Linux /proc/stat)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return float("nan")
    busy = sum(fields) - fields[3] - fields[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class Batch:
    seconds: float
    pdf_bytes: int
    our_cpu: float
    """CPU-seconds the workers spent rendering."""
    machine_cpu: float
    """CPU-seconds the whole machine was busy meanwhile: the rest is other people's load."""


def batch(n: int, workers: int, chunk: int = 5) -> Batch:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
        pids: set[int] = set()
        for _ in range(120):  # a worker takes calls only once its initializer (the warm-up) is done
            pids |= set(pool.map(_ready, [0.5] * workers))
            if len(pids) == workers:
                break
        assert len(pids) == workers, "every worker must be started and warm before timing"
        chunks = [list(range(start, min(start + chunk, n))) for start in range(0, n, chunk)]
        busy, start = _machine_busy_seconds(), time.perf_counter()
        done = list(pool.map(_render_chunk, chunks))
        elapsed, busy = time.perf_counter() - start, _machine_busy_seconds() - busy
    assert sum(count for count, _, _ in done) == n
    return Batch(elapsed, sum(size for _, size, _ in done), sum(cpu for _, _, cpu in done), busy)


# --- 3. over HTTP: a repeated download vs a render, and /healthz during a flood ------------

ADMIN = "cbo_bench-pdf-operator"


def _serve(port: int) -> None:
    """Child process: the app from CREDITBANK_* variables (set by the parent) under uvicorn."""
    import uvicorn

    from creditbank.app import create_app

    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _setup(workdir: Path, certificates: int) -> dict[str, str]:
    """A fresh SQLite bank with ``certificates`` achievement certificates, through the API."""
    from fastapi.testclient import TestClient

    from creditbank.app import create_app
    from creditbank.config import Settings
    from creditbank.kit import idcard
    from creditbank.migrations import upgrade

    env = {
        "CREDITBANK_DATABASE_URL": f"sqlite:///{workdir / 'creditbank.db'}",
        "CREDITBANK_KEYS_DIR": str(workdir / "keys"),
        "CREDITBANK_SECRET": "bench-pdf-secret",
        "CREDITBANK_ADMIN_TOKEN": ADMIN,
        "CREDITBANK_BASE_URL": "https://creditbank.example",
        "CREDITBANK_LOG_CHECKPOINT_INTERVAL": "0",
    }
    upgrade(env["CREDITBANK_DATABASE_URL"])
    settings = Settings(**{k.removeprefix("CREDITBANK_").lower(): v for k, v in env.items()})
    operator = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(create_app(settings)) as client:

        def ok(response):
            assert response.status_code in (200, 201), response.text
            return response.json()

        ok(
            client.post(
                "/api/v1/institutions", json={"code": "BENCH", "name_zh": "基准社区学院"}, headers=operator
            )
        )
        ok(client.post("/api/v1/institutions/BENCH/accredit", headers=operator))
        key = ok(client.post("/api/v1/institutions/BENCH/api-keys", json={}, headers=operator))["key"]
        inst = {"Authorization": f"Bearer {key}"}
        person = ok(
            client.post(
                "/api/v1/learners",
                json={"name": "张桂兰", "national_id": idcard.make("500118", date(1958, 5, 17), 7)},
                headers=inst,
            )
        )
        ids = []
        token = None
        for n in range(certificates):
            title_zh, title_en = COURSES[n % len(COURSES)]
            body = {"title_zh": f"{title_zh}（{n + 1}）", "category": "community", "level": 2, "credits": 1}
            ok(
                client.put(
                    f"/api/v1/catalogue/PDF-{n}",
                    json=body | ({"title_en": title_en} if title_en else {}),
                    headers=inst,
                )
            )
            completion = ok(
                client.post(
                    "/api/v1/completions",
                    json={
                        "external_id": f"pdf-{n}",
                        "account_no": person["account_no"],
                        "outcome_code": f"PDF-{n}",
                        "completed_on": "2026-03-01",
                    },
                    headers=inst,
                )
            )
            if token is None:
                token = ok(
                    client.post(
                        "/api/v1/auth/activate",
                        json={
                            "account_no": person["account_no"],
                            "activation_code": person["activation_code"],
                            "password": "竹林深处2026",
                        },
                    )
                )["access_token"]
            ids.append(
                ok(
                    client.post(
                        "/api/v1/me/certificates",
                        json={"kind": "achievement", "completion_id": completion["id"]},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                )["id"]
            )
    return env | {"ids": ",".join(ids)}


class _Server:
    def __init__(self, env: dict[str, str], workdir: Path, **extra: str) -> None:
        import socket
        import subprocess

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        child_env = (
            {k: v for k, v in os.environ.items() if not k.startswith("CREDITBANK_")}
            | {k: v for k, v in env.items() if k.startswith("CREDITBANK_")}
            | extra
        )
        self._log = open(workdir / f"server-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(self.port)],
            env=child_env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait(self) -> None:
        import httpx

        for _ in range(600):
            if self.process.poll() is not None:
                raise SystemExit(f"server exited: {self.process.returncode}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log.close()


def http_part(samples: int, flood: int) -> None:
    """Two servers on one database: ``stored`` as shipped, ``render`` with nothing kept
    (``CREDITBANK_PDF_CACHE_BYTES=0``: every download renders). Interleaved, one client, keep-alive:
    a repeated download from ``stored`` against a download from ``render`` of the same certificate
    — the whole route either way (state read, render or not, response). Then ``/healthz`` latency
    idle and during ``flood`` concurrent downloads of different certificates from ``stored`` (not
    rendered before; one render slot and a queue of 4 per process, the defaults)."""
    import shutil
    import tempfile
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    workdir = Path(tempfile.mkdtemp(prefix="creditbank-bench-pdf-"))
    try:
        print(
            f"\n3. Over HTTP: GET /api/v1/certificates/{{id}}.pdf (setup: {flood + 2} certificates through the API)"
        )
        world = _setup(workdir, flood + 2)
        ids = world["ids"].split(",")
        stored = _Server(world, workdir)
        render = _Server(world, workdir, CREDITBANK_PDF_CACHE_BYTES="0")
        stored.wait()
        render.wait()
        hot, cold = ids[0], ids[1]
        with (
            httpx.Client(base_url=stored.base, timeout=120) as s,
            httpx.Client(base_url=render.base, timeout=120) as r,
        ):
            for client in (s, r):  # the renderer's start (fonts) and the first render, not timed
                assert client.get(f"/api/v1/certificates/{hot}.pdf").status_code == 200
                assert client.get(f"/api/v1/certificates/{cold}.pdf").status_code == 200
            repeated, rendered = [], []
            for _ in range(samples):
                for client, into in ((s, repeated), (r, rendered)):
                    for _ in range(1 if into is rendered else 5):
                        t0 = time.perf_counter()
                        response = client.get(f"/api/v1/certificates/{hot}.pdf")
                        into.append(time.perf_counter() - t0)
                        assert response.status_code == 200 and response.content.startswith(b"%PDF")
            hit, miss = statistics.median(repeated), statistics.median(rendered)
            print(f"{'download':<40}{'median ms':>10}{'min ms':>9}{'n':>5}")
            print(
                f"{'repeated (stored PDF)':<40}{1000 * hit:>10.2f}{1000 * min(repeated):>9.2f}{len(repeated):>5}"
            )
            print(
                f"{'rendered (nothing kept)':<40}{1000 * miss:>10.1f}{1000 * min(rendered):>9.1f}{len(rendered):>5}"
            )
            ratio = hit / miss
            print(f"repeated ÷ render = {ratio:.2%}  {'ok' if ratio <= 0.05 else 'MISSED'} (≤ 5 %)")

            def health_for(seconds: float) -> list[float]:
                out = []
                end = time.monotonic() + seconds
                with httpx.Client(base_url=stored.base, timeout=120) as h:
                    while time.monotonic() < end:
                        t0 = time.perf_counter()
                        assert h.get("/healthz").status_code == 200
                        out.append(time.perf_counter() - t0)
                        time.sleep(0.02)
                return out

            idle = health_for(3.0)
            answers: list[int] = []
            flooding = threading.Event()
            busy: list[float] = []

            def poll() -> None:
                with httpx.Client(base_url=stored.base, timeout=120) as h:
                    while not flooding.is_set():
                        t0 = time.perf_counter()
                        assert h.get("/healthz").status_code == 200
                        busy.append(time.perf_counter() - t0)
                        time.sleep(0.02)

            def download(certificate_id: str) -> int:
                with httpx.Client(base_url=stored.base, timeout=120) as c:
                    return c.get(f"/api/v1/certificates/{certificate_id}.pdf").status_code

            poller = threading.Thread(target=poll)
            poller.start()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=flood) as pool:
                answers = list(pool.map(download, ids[2 : 2 + flood]))
            flood_seconds = time.perf_counter() - t0
            flooding.set()
            poller.join()

            def p(values: list[float], q: float) -> float:
                values = sorted(values)
                return 1000 * values[min(len(values) - 1, int(q * len(values)))]

            print(
                f"\n/healthz, one client polling every 20 ms: idle {len(idle)}× p50 {p(idle, 0.5):.1f} ms, "
                f"p99 {p(idle, 0.99):.1f} ms; during a flood of {flood} concurrent downloads of different PDFs "
                f"({flood_seconds:.1f} s: {answers.count(200)} rendered, {answers.count(503)} refused with pdf_busy, "
                f"{len(answers) - answers.count(200) - answers.count(503)} other) {len(busy)}× "
                f"p50 {p(busy, 0.5):.1f} ms, p99 {p(busy, 0.99):.1f} ms, max {p(busy, 1.0):.1f} ms"
            )
        stored.stop()
        render.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- report ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="certificates in the batch (default 1000)")
    parser.add_argument("--samples", type=int, default=30, help="certificates per kind for product vs bare")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--http",
        action="store_true",
        help="also part 3: a repeated download vs a render over HTTP, /healthz in a flood",
    )
    parser.add_argument("--only-http", action="store_true", help="part 3 only")
    parser.add_argument("--only-seal", action="store_true", help="part 1b only: the seal's cost")
    parser.add_argument("--http-samples", type=int, default=15, help="renders timed in part 3 (default 15)")
    parser.add_argument(
        "--flood", type=int, default=12, help="concurrent downloads in part 3's flood (default 12)"
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve)
        return
    if args.only_http:
        print(f"CPUs: {os.cpu_count()}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        http_part(args.http_samples, args.flood)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return

    print(f"CPUs: {os.cpu_count()}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    start = time.perf_counter()
    renderer = Renderer()
    if args.only_seal:
        seal_part(renderer, args.samples)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
    print(
        f"Renderer() (font check + the 3 GB 2312 faces, cut unless in the font cache): {1000 * (time.perf_counter() - start):.0f} ms\n"
    )

    print(f"1. Per certificate, {args.samples} certificates per kind, product and bare interleaved (ms)")
    print(
        f"{'document':<22}{'product':>9}{'bare':>9}{'min prod':>10}{'min bare':>10}{'ratio':>8}{'PDF size':>11}"
        "  target"
    )
    for kind, lines in (("achievement", 1), ("transcript", 25)):
        result = compare(renderer, kind=kind, lines=lines, samples=args.samples)
        product, bare, ratio = result["product"], result["bare"], result["ratio"]
        print(
            f"{result['kind']:<22}{1000 * statistics.median(product):>9.1f}{1000 * statistics.median(bare):>9.1f}"
            f"{1000 * min(product):>10.1f}{1000 * min(bare):>10.1f}{ratio:>7.2f}x{result['size'] / 1024:>8.1f} kB"
            f"  {'ok' if ratio <= RATIO_TARGET else 'MISSED'} (≤ {RATIO_TARGET}x)"
        )
    print(
        "   product/bare/min: medians and minima of the render times; ratio: median of the per-certificate ratios"
    )
    seal_part(renderer, args.samples)
    del renderer

    print(f"\n2. Batch of {args.n} achievement certificates (each worker warm before the clock starts)")
    print(
        f"{'processes':<11}{'seconds':>9}{'cert/s':>8}{'ms/cert':>9}{'avg size':>11}{'our CPU s':>11}"
        f"{'others CPU s':>14}"
    )
    results = {}
    for workers in (1, args.workers):
        result = results[workers] = batch(args.n, workers)
        others = max(0.0, result.machine_cpu - result.our_cpu)
        print(
            f"{workers:<11}{result.seconds:>9.1f}{args.n / result.seconds:>8.1f}{1000 * result.seconds / args.n:>9.1f}"
            f"{result.pdf_bytes / args.n / 1024:>8.1f} kB{result.our_cpu:>11.1f}{others:>14.1f}"
        )
    speedup = results[1].seconds / results[args.workers].seconds
    cpu_ratio = results[args.workers].our_cpu / results[1].our_cpu
    print(
        f"speed-up {args.workers} vs 1: {speedup:.2f}x  {'ok' if speedup >= SPEEDUP_TARGET else 'MISSED'} "
        f"(≥ {SPEEDUP_TARGET}x); CPU per certificate {args.workers} vs 1: {cpu_ratio:.2f}x"
    )
    print(
        "   others CPU s: CPU-seconds the rest of the machine used during the batch (/proc/stat); "
        f"{os.cpu_count()} CPUs give {os.cpu_count()} CPU-seconds per second"
    )
    if args.http:
        http_part(args.http_samples, args.flood)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
