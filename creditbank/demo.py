"""Demo data (SPEC §6): the districts, institutions and courses of the seed documents.

Five places whose community-education work the seed documents describe — 重庆永川区, 淄博临淄区皇城镇,
景德镇 (千年瓷都), 成都新都区 — with their institutions, a small catalogue each, a few hundred
residents (many of them 60+) and two years of completions. Everything goes through the services
an institution or the operator would use (create → accredit → API key, catalogue upsert, enroll,
batch import), in one unit of work: the demo is either loaded whole or not at all.

The same seed gives the same people, courses and dates; identifiers the services draw from
``secrets`` (account numbers, keys, activation codes, ids) differ from run to run by design.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import col, select

from creditbank import hooks
from creditbank.catalogue import service as catalogue
from creditbank.catalogue.models import Category
from creditbank.catalogue.schemas import OutcomeSpec
from creditbank.certificates import service as certificates
from creditbank.certificates.models import CertificateKind
from creditbank.certificates.service import Issuer
from creditbank.completions import service as completions
from creditbank.completions.models import Completion
from creditbank.config import Settings
from creditbank.conversion import service as conversion
from creditbank.conversion.schemas import QualificationSpec, RuleSpec
from creditbank.db import Database
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution, InstitutionState
from creditbank.kit import clock, idcard
from creditbank.learners import service as learner_service
from creditbank.staff import service as staff_accounts
from creditbank.stats import service as stats

# -- what the demo contains ----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoInstitution:
    code: str
    name_zh: str
    name_en: str
    kind: str
    district: str
    """The 区/县 as the learners' addresses and the district office's lists name it."""
    id_prefix: str
    """Start of the institution's own record numbers (``external_id``), e.g. ``YC-2025-000123``."""
    township: str
    """The 乡镇/街道 it stands in: what coverage counts (``AREA_LIST``)."""
    village: str | None = None
    """The 村/社区, for one that stands in a village or community."""


@dataclass(frozen=True)
class DemoOutcome:
    institution: str
    code: str
    title_zh: str
    title_en: str
    category: Category
    level: int
    credits: float | None = None
    hours: float | None = None
    """Hours only (credits None): the bank derives the credits (SPEC §3.3)."""
    validity_years: int | None = None
    min_score: float | None = None
    ages: str = "yas"
    """Who takes it: y = under 18, a = 18–59, s = 60 and over."""
    months: tuple[int, ...] = ()
    """Seasonal courses happen only in these months (the 皇城镇 plan is by month)."""
    weight: float = 1.0
    completed_in_demo: bool = True
    """False for conversion targets: nobody has them yet, so a conversion can create them."""


@dataclass(frozen=True)
class Area:
    """A district of the seeds: where learners live and which institutions serve them."""

    name: str
    share: float
    places: tuple[tuple[str, str], ...]
    """(ID-card region code, the district string stored on the learner)."""
    enrolers: tuple[tuple[str, float], ...]
    """Institutions that enrol adults here, with weights; the first also enrols the young and old."""


INSTITUTIONS: tuple[DemoInstitution, ...] = (
    DemoInstitution(
        "YCCEC",
        "永川区社区教育学院",
        "Yongchuan District Community Education College",
        "community_college",
        "永川区",
        "YC",
        "中山路街道",
    ),
    DemoInstitution(
        "CQOUYC",
        "重庆开放大学永川分校",
        "Chongqing Open University, Yongchuan Branch",
        "open_university",
        "永川区",
        "OUYC",
        "中山路街道",  # one campus with the community college (seed: 永川电大与社区教育学院一体)
    ),
    DemoInstitution(
        "HCZCEC",
        "皇城镇社区教育中心",
        "Huangcheng Town Community Education Centre",
        "community_school",
        "临淄区",
        "HC",
        "皇城镇",
    ),
    DemoInstitution(
        "JDZCS",
        "景德镇陶瓷文化社区学校",
        "Jingdezhen Ceramic Culture Community School",
        "community_school",
        "珠山区",
        "JDZCS",
        "石狮埠街道",
        "瓷都社区",
    ),
    DemoInstitution(
        "JDZVC",
        "景德镇陶瓷职业技术学院",
        "Jingdezhen Ceramic Vocational and Technical College",
        "vocational_college",
        "昌江区",
        "JDZVC",
        "新枫街道",
    ),
    DemoInstitution(
        "XDCEC",
        "新都社区教育学院",
        "Xindu Community Education College",
        "community_college",
        "新都区",
        "XD",
        "新都街道",
    ),
)

_C = Category
OUTCOMES: tuple[DemoOutcome, ...] = (
    # 永川区社区教育学院: 职育课程进社区, 智慧助老, 茶竹文化特色项目
    DemoOutcome(
        "YCCEC",
        "YC-ELEC-SAFETY",
        "居民用电安全",
        "Electrical safety at home",
        _C.vocational_training,
        2,
        hours=16,
        ages="as",
    ),
    DemoOutcome(
        "YCCEC",
        "YC-WECHAT",
        "玩转微信享受智慧生活",
        "Smart living with WeChat",
        _C.senior,
        1,
        hours=12,
        ages="s",
        weight=1.6,
    ),
    DemoOutcome(
        "YCCEC",
        "YC-DIGITAL-LIFE",
        "中老年数字智慧生活课堂",
        "Digital living for middle-aged and older residents",
        _C.senior,
        1,
        hours=24,
        ages="as",
    ),
    DemoOutcome(
        "YCCEC",
        "YC-BAMBOO-ART",
        "楠竹工艺画",
        "Moso bamboo craft painting",
        _C.culture_leisure,
        2,
        credits=1.5,
    ),
    DemoOutcome(
        "YCCEC", "YC-PAPER-CUT", "剪纸艺术", "Chinese paper cutting", _C.culture_leisure, 1, hours=16
    ),
    DemoOutcome(
        "YCCEC", "YC-FAMILY-READ", "亲子悦读", "Parent-child reading", _C.community, 1, credits=0.5, ages="ya"
    ),
    # 重庆开放大学永川分校: 学历教育 and 家政育婴师 certificates; two conversion targets
    DemoOutcome(
        "CQOUYC",
        "OU-NANNY-CERT",
        "家政育婴师培训（职业技能等级证书）",
        "Infant-care worker training (vocational skill certificate)",
        _C.vocational_certificate,
        4,
        credits=4,
        validity_years=5,
        min_score=60,
        ages="a",
    ),
    DemoOutcome(
        "CQOUYC",
        "OU-IT-BASICS",
        "计算机应用基础",
        "Computer applications basics",
        _C.academic,
        5,
        credits=3,
        validity_years=5,
        min_score=60,
        ages="a",
        weight=0.6,
    ),
    DemoOutcome(
        "CQOUYC",
        "OU-PRESCHOOL-EDU",
        "学前教育学",
        "Preschool education",
        _C.academic,
        6,
        credits=3,
        min_score=60,
        ages="a",
        completed_in_demo=False,
    ),
    DemoOutcome(
        "CQOUYC",
        "OU-MODERN-AGRI",
        "现代农业技术基础",
        "Foundations of modern agricultural technology",
        _C.academic,
        5,
        credits=2,
        min_score=60,
        ages="a",
        completed_in_demo=False,
    ),
    # 皇城镇社区教育中心 and its 田间学校, month by month as in the town's plan
    DemoOutcome(
        "HCZCEC",
        "HC-VEG-SPRING",
        "春季蔬菜田间管理培训",
        "Spring vegetable field management",
        _C.community,
        2,
        hours=24,
        validity_years=5,
        ages="as",
        months=(2, 3),
        weight=1.5,
    ),
    DemoOutcome(
        "HCZCEC",
        "HC-GREENHOUSE",
        "大棚套种蔬菜生长期管理培训",
        "Greenhouse intercropping: growing-season care",
        _C.community,
        2,
        hours=16,
        validity_years=5,
        ages="as",
        months=(4,),
        weight=1.2,
    ),
    DemoOutcome(
        "HCZCEC",
        "HC-TOMATO-AUTUMN",
        "秋季西红柿田间管理线上案例培训",
        "Autumn tomato field management, online cases",
        _C.community,
        2,
        hours=16,
        validity_years=5,
        ages="as",
        months=(9,),
    ),
    DemoOutcome(
        "HCZCEC",
        "HC-SMART-ELDER",
        "智慧助老我能行",
        "Smart help for older people: I can do it",
        _C.senior,
        1,
        hours=8,
        ages="ys",
        months=(3,),
    ),
    DemoOutcome(
        "HCZCEC",
        "HC-FAMILY-EDU",
        "家庭教育培训",
        "Family education training",
        _C.community,
        1,
        credits=1,
        ages="as",
        months=(5, 11),
    ),
    DemoOutcome(
        "HCZCEC",
        "HC-SUMMER-KIDS",
        "暑期儿童公益课堂",
        "Summer classes for children",
        _C.community,
        1,
        hours=16,
        ages="y",
        months=(7, 8),
    ),
    # 景德镇: 千年瓷都 ceramics at a community school and a vocational college
    DemoOutcome(
        "JDZCS",
        "JDZ-PAINTING",
        "陶瓷彩绘入门",
        "Introduction to ceramic painting",
        _C.culture_leisure,
        2,
        hours=32,
        weight=1.4,
    ),
    DemoOutcome(
        "JDZCS",
        "JDZ-BLUE-WHITE",
        "青花瓷绘技法",
        "Blue-and-white porcelain painting",
        _C.culture_leisure,
        3,
        credits=2,
        ages="as",
    ),
    DemoOutcome(
        "JDZCS",
        "JDZ-HERITAGE",
        "千年瓷都历史文化",
        "The millennium porcelain capital: history and culture",
        _C.community,
        1,
        hours=8,
    ),
    DemoOutcome(
        "JDZCS",
        "JDZ-KIDS-CLAY",
        "少儿陶艺体验",
        "Pottery for children",
        _C.culture_leisure,
        1,
        hours=12,
        ages="y",
    ),
    DemoOutcome(
        "JDZVC",
        "JDZVC-THROWING",
        "拉坯成型",
        "Wheel throwing and forming",
        _C.vocational_training,
        4,
        credits=3,
        validity_years=5,
        min_score=60,
        ages="a",
    ),
    DemoOutcome(
        "JDZVC",
        "JDZVC-GLAZE",
        "陶瓷釉料配制",
        "Ceramic glaze preparation",
        _C.vocational_training,
        4,
        credits=2,
        validity_years=5,
        min_score=60,
        ages="a",
    ),
    DemoOutcome(
        "JDZVC",
        "JDZVC-FIRING",
        "陶瓷烧成工艺",
        "Kiln firing technology",
        _C.vocational_training,
        5,
        hours=48,
        min_score=70,
        ages="a",
        weight=0.7,
    ),
    DemoOutcome(
        "JDZVC",
        "JDZVC-DECORATOR",
        "陶瓷装饰工（职业技能等级证书）",
        "Ceramic decorator (vocational skill certificate)",
        _C.vocational_certificate,
        4,
        credits=4,
        validity_years=5,
        min_score=60,
        ages="a",
        weight=0.8,
    ),
    # 新都社区教育学院: 市民自主学习团队, 香城社区讲坛, 社区雏鹰
    DemoOutcome(
        "XDCEC",
        "XD-LEARNING-TEAM",
        "市民自主学习团队",
        "Self-organised citizens' learning team",
        _C.community,
        2,
        hours=40,
        ages="as",
        weight=1.4,
    ),
    DemoOutcome(
        "XDCEC",
        "XD-FORUM",
        "香城社区讲坛",
        "Xiangcheng community lectures",
        _C.community,
        1,
        hours=8,
        weight=1.3,
    ),
    DemoOutcome(
        "XDCEC",
        "XD-CHOIR",
        "市民歌唱培训",
        "Citizens' choir singing",
        _C.culture_leisure,
        1,
        hours=16,
        ages="as",
    ),
    DemoOutcome(
        "XDCEC",
        "XD-EAGLET",
        "社区雏鹰成长营",
        "Community young-eagles camp",
        _C.community,
        1,
        hours=16,
        ages="y",
        months=(7, 8),
    ),
    DemoOutcome(
        "XDCEC",
        "XD-READING",
        "院落学习室读书会",
        "Courtyard study-room reading circle",
        _C.culture_leisure,
        1,
        credits=0.5,
    ),
    DemoOutcome(
        "XDCEC",
        "XD-SENIOR-HEALTH",
        "老年养生保健",
        "Health care in later life",
        _C.senior,
        1,
        hours=16,
        ages="s",
    ),
)

CONVERSION_TARGETS = ("OU-PRESCHOOL-EDU", "OU-MODERN-AGRI")
"""Catalogued at CQOUYC but completed by nobody: SPEC §6's two conversion rules lead here."""

AREAS: tuple[Area, ...] = (
    Area(
        "永川",
        0.35,
        tuple(
            ("500118", f"永川区{p}")
            for p in (
                "中山路街道",
                "胜利路街道",
                "南大街街道",
                "茶山竹海街道",
                "卫星湖街道",
                "大安街道",
                "红炉镇",
                "朱沱镇",
                "板桥镇",
                "来苏镇",
            )
        ),
        (("YCCEC", 0.75), ("CQOUYC", 0.25)),
    ),
    Area("皇城", 0.20, (("370305", "临淄区皇城镇"),), (("HCZCEC", 1.0),)),
    Area(
        "景德镇",
        0.25,
        (
            ("360203", "珠山区石狮埠街道"),
            ("360203", "珠山区新村街道"),
            ("360203", "珠山区里村街道"),
            ("360203", "珠山区周路口街道"),
            ("360202", "昌江区西郊街道"),
            ("360202", "昌江区新枫街道"),
            ("360202", "昌江区丽阳镇"),
        ),
        (("JDZCS", 0.65), ("JDZVC", 0.35)),
    ),
    Area(
        "新都",
        0.20,
        tuple(
            ("510114", f"新都区{p}")
            for p in (
                "新都街道",
                "大丰街道",
                "三河街道",
                "斑竹园街道",
                "新繁街道",
                "石板滩街道",
                "军屯镇",
                "清流镇",
            )
        ),
        (("XDCEC", 1.0),),
    ),
)

DEMO_VILLAGES: dict[tuple[str, str], tuple[str, ...]] = {
    ("临淄区", "皇城镇"): ("东门村", "西门村", "南门村", "北门村"),
    ("珠山区", "石狮埠街道"): ("瓷都社区", "陶阳社区"),
    ("新都区", "新都街道"): ("香城社区",),
}
"""Some 村/社区 of the district office's area list, so 村/社区 coverage has something to count. Demo
names (the seeds name the 乡镇/街道, not their villages; 香城 is 新都's own name for itself)."""

DEMO_SHARE_OF_RESIDENTS = {"under_18": 0.25, "18_59": 0.45, "60_plus": 0.7}
"""The share of a district's residents in each age band that the demo's learners stand for. The
demo has a few hundred learners, not a district's hundreds of thousands: its resident population is
made to the demo's scale (learners ÷ share, at least ``DEMO_MIN_RESIDENTS``), so the participation
rates come out like a district's (seeds: 景德镇's target 60 %) instead of 0.0 %. Demo figures, not
statistics; the summary says so."""

DEMO_DISTRICT_REACH = {"永川区": 1.0, "临淄区": 1.3, "珠山区": 0.85, "昌江区": 0.75, "新都区": 0.95}
"""How far each district's offer reaches, relative to 永川 (皇城镇's 田间学校 reach many): some
districts meet the targets, others do not — as on a real dashboard."""

DEMO_MIN_RESIDENTS = 20

_DEMO_BANDS = {"y": "under_18", "a": "18_59", "s": "60_plus"}

_AREA_OF = {
    "YCCEC": "永川",
    "CQOUYC": "永川",
    "HCZCEC": "皇城",
    "JDZCS": "景德镇",
    "JDZVC": "景德镇",
    "XDCEC": "新都",
}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
# Given names by the generation they are typical of: born before 1966, 1966–1999, 2000 on.
GIVEN_NAMES = {
    ("old", "male"): (
        "建国",
        "国华",
        "志强",
        "德明",
        "福生",
        "长顺",
        "明德",
        "学文",
        "永福",
        "家福",
        "树林",
        "保国",
        "振华",
        "德胜",
        "玉山",
        "文斌",
        "洪亮",
        "金贵",
        "世荣",
        "国庆",
        "正清",
        "春生",
        "庆云",
        "友才",
    ),
    ("old", "female"): (
        "秀英",
        "桂兰",
        "淑珍",
        "玉兰",
        "秀兰",
        "凤英",
        "桂英",
        "淑华",
        "秀珍",
        "玉珍",
        "翠花",
        "素芳",
        "兰英",
        "淑英",
        "桂芳",
        "玉梅",
        "春梅",
        "秀芳",
        "金凤",
        "玉华",
        "月娥",
        "素珍",
        "凤兰",
        "德芬",
    ),
    ("mid", "male"): (
        "伟",
        "强",
        "磊",
        "军",
        "勇",
        "涛",
        "斌",
        "杰",
        "鹏",
        "海波",
        "建华",
        "志刚",
        "俊",
        "刚",
        "明",
        "超",
        "健",
        "波",
        "宏伟",
        "晓东",
        "立新",
        "永刚",
        "红军",
        "国栋",
    ),
    ("mid", "female"): (
        "丽",
        "静",
        "敏",
        "燕",
        "艳",
        "娟",
        "霞",
        "芳",
        "丽娟",
        "晓燕",
        "红梅",
        "春燕",
        "丽萍",
        "小红",
        "婷",
        "雪梅",
        "晓霞",
        "海燕",
        "玲",
        "慧",
        "琴",
        "丹",
        "利华",
        "红霞",
    ),
    ("young", "male"): (
        "子轩",
        "浩然",
        "宇航",
        "俊杰",
        "梓睿",
        "博文",
        "一鸣",
        "子豪",
        "浩宇",
        "思远",
        "天佑",
        "明轩",
        "睿泽",
        "梓豪",
        "宇轩",
        "家乐",
    ),
    ("young", "female"): (
        "欣怡",
        "梓涵",
        "诗涵",
        "雨桐",
        "可馨",
        "语嫣",
        "思彤",
        "梓萱",
        "雨萱",
        "一诺",
        "紫涵",
        "佳怡",
        "若曦",
        "欣妍",
        "子涵",
        "语桐",
    ),
}

MOBILE_PREFIXES = tuple(f"13{d}" for d in range(10)) * 2 + (
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "177",
    "180",
    "181",
    "186",
    "187",
    "189",
)
"""Real mainland mobile number blocks (13x most often, as on the older learners' phones)."""

AGE_BANDS = (("s", 0.45, 60, 86), ("a", 0.45, 18, 59), ("y", 0.10, 8, 17))
"""(band, share, youngest, oldest): SPEC §3.9's bands; many learners in community education are 60+."""

YEARS_OF_HISTORY = 2


# -- planning (pure, from the seed) ----------------------------------------------------------------


@dataclass(frozen=True)
class PlannedLearner:
    index: int
    name: str
    national_id: str
    band: str
    age: int
    phone: str | None
    district: str
    area: str
    enroler: str


@dataclass(frozen=True)
class PlannedCompletion:
    learner: int
    outcome: DemoOutcome
    completed_on: date
    score: float | None


def _age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _born(rng: random.Random, age: int, today: date) -> date:
    """A birth date that makes the person exactly ``age`` today."""
    anchor = date(today.year - age, today.month, min(today.day, 28))
    born = anchor - timedelta(days=rng.randint(1, 360))
    while _age_on(born, today) > age:  # the 28th clamp can land just past a birthday
        born += timedelta(days=1)
    return born


def _weighted_sample(rng: random.Random, items: list, weights: list[float], k: int) -> list:
    """k distinct items, each chosen with probability proportional to its weight (Efraimidis–Spirakis)."""
    keyed = sorted(((rng.random() ** (1.0 / w), i) for i, w in enumerate(weights)), reverse=True)
    return [items[i] for _, i in keyed[:k]]


def _place(where: str) -> tuple[str, str | None]:
    """永川区中山路街道 → (永川区, 中山路街道): district and 乡镇/街道, which statistics count by."""
    cut = max(where.find("区"), where.find("县"))
    if 0 < cut < len(where) - 1:
        return where[: cut + 1], where[cut + 1 :]
    return where, None


def plan_learners(rng: random.Random, count: int, today: date) -> list[PlannedLearner]:
    people: list[PlannedLearner] = []
    used_ids: set[str] = set()
    for index in range(count):
        area = rng.choices(AREAS, weights=[a.share for a in AREAS])[0]
        region, district = rng.choice(area.places)
        band, _, youngest, oldest = rng.choices(AGE_BANDS, weights=[b[1] for b in AGE_BANDS])[0]
        if band == "s":  # fewer of the very old: a triangle peaking in the mid-60s
            age = int(rng.triangular(youngest, oldest + 1, 64))
        else:
            age = rng.randint(youngest, oldest)
        female = rng.random() < {"s": 0.6, "a": 0.55, "y": 0.5}[band]
        born = _born(rng, age, today)
        while True:
            # GB 11643: the sequence's last digit is odd for men, even for women.
            number = idcard.make(region, born, rng.randrange(1, 500) * 2 - (0 if female else 1))
            if number not in used_ids:
                used_ids.add(number)
                break
        generation = "old" if born.year < 1966 else "mid" if born.year < 2000 else "young"
        gender = "female" if female else "male"
        name = rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES[(generation, gender)])
        phone = None
        if age >= 14:
            phone = f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
        enroler = area.enrolers[0][0]
        if band == "a":
            enroler = rng.choices([c for c, _ in area.enrolers], weights=[w for _, w in area.enrolers])[0]
        people.append(PlannedLearner(index, name, number, band, age, phone, district, area.name, enroler))
    return people


def plan_completions(
    rng: random.Random, people: list[PlannedLearner], today: date
) -> list[PlannedCompletion]:
    start = today - timedelta(days=365 * YEARS_OF_HISTORY)
    days = [start + timedelta(days=i) for i in range((today - start).days + 1)]
    days_in: dict[tuple[int, ...], list[date]] = {}
    offered = [o for o in OUTCOMES if o.completed_in_demo]
    planned: list[PlannedCompletion] = []
    for person in people:
        female = int(person.national_id[16]) % 2 == 0
        eligible = [o for o in offered if person.band in o.ages]
        home = [o for o in eligible if _AREA_OF[o.institution] == person.area]
        weights = [_weight(o, person.band, female) for o in home]
        k = min(rng.choices((3, 4, 5, 6), weights=(3, 4, 3, 2))[0], len(home))
        picks = _weighted_sample(rng, home, weights, k)
        if rng.random() < 0.08:  # occasionally a course in another district (visiting family, online)
            away = [o for o in eligible if _AREA_OF[o.institution] != person.area]
            picks.append(rng.choice(away))
        for outcome in picks:
            if outcome.months not in days_in:
                days_in[outcome.months] = [d for d in days if not outcome.months or d.month in outcome.months]
            score = None
            if outcome.min_score is not None:
                floor = math.ceil(outcome.min_score)
                score = float(max(rng.randint(floor, 100), rng.randint(floor, 100)))
            planned.append(
                PlannedCompletion(person.index, outcome, rng.choice(days_in[outcome.months]), score)
            )
    return planned


def plan_population(people: list[PlannedLearner]) -> dict[tuple[str, str], int]:
    """(district, age band) → resident population, at the demo's scale (``DEMO_SHARE_OF_RESIDENTS``)."""
    learners: defaultdict[tuple[str, str], int] = defaultdict(int)
    for person in people:
        learners[(_place(person.district)[0], _DEMO_BANDS[person.band])] += 1
    population = {}
    for district in sorted({d for d, _ in learners}):
        reach = DEMO_DISTRICT_REACH.get(district, 1.0)
        for band, share in DEMO_SHARE_OF_RESIDENTS.items():
            residents = math.ceil(learners[(district, band)] / (share * reach))
            population[(district, band)] = max(DEMO_MIN_RESIDENTS, residents)
    return population


def plan_areas() -> list[tuple[str, str, str]]:
    """The district office's area list: every 乡镇/街道 the demo's learners live in, and some 村/社区."""
    areas = []
    for area in AREAS:
        for _, where in area.places:
            district, township = _place(where)
            assert township is not None, where
            areas.append((district, township, ""))
            areas += [(district, township, v) for v in DEMO_VILLAGES.get((district, township), ())]
    return areas


def _weight(outcome: DemoOutcome, band: str, female: bool) -> float:
    weight = outcome.weight
    if outcome.code == "OU-NANNY-CERT" and not female:
        weight *= 0.1
    if band == "s" and outcome.category == Category.senior:
        weight *= 1.5
    return weight


# -- loading --------------------------------------------------------------------------------------


def is_empty(db: Database) -> bool:
    """True when no institution exists yet (a fresh database)."""
    with db.reader() as session:
        return session.exec(select(Institution.id).limit(1)).first() is None


def is_loaded(db: Database) -> bool:
    """True when the demo's first institution exists (the demo was loaded here before)."""
    with db.reader() as session:
        found = session.exec(select(Institution.id).where(Institution.code == INSTITUTIONS[0].code)).first()
        return found is not None


def load(db: Database, settings: Settings, *, learners: int = 300, seed: int = 2026) -> str:
    """Load the demo into an empty database; returns a short bilingual summary to print."""
    if not is_empty(db):
        raise ValueError("the database already has institutions; the demo loads only into an empty one")
    hooks.install()
    started = time.perf_counter()
    rng = random.Random(seed)
    today = clock.today()
    people = plan_learners(rng, learners, today)
    planned = plan_completions(rng, people, today)
    secret = settings.id_secret()

    keys: dict[str, str] = {}
    key_ids: dict[str, str] = {}
    with db.unit_of_work() as session:
        by_code: dict[str, Institution] = {}
        for spec in INSTITUTIONS:
            institution, _ = institutions.create(
                session,
                code=spec.code,
                name_zh=spec.name_zh,
                name_en=spec.name_en,
                kind=spec.kind,
                district=spec.district,
                township=spec.township,
                village=spec.village,
            )
            institutions.set_state(session, code=spec.code, state=InstitutionState.accredited)
            key, keys[spec.code] = institutions.issue_api_key(session, code=spec.code, label="demo 演示")
            key_ids[spec.code] = key.id
            by_code[spec.code] = institution
        credit_units: dict[str, int] = {}
        for demo_outcome in OUTCOMES:
            outcome, _ = catalogue.upsert(
                session,
                institution_id=by_code[demo_outcome.institution].id,
                code=demo_outcome.code,
                spec=OutcomeSpec(
                    title_zh=demo_outcome.title_zh,
                    title_en=demo_outcome.title_en,
                    category=demo_outcome.category,
                    level=demo_outcome.level,
                    credits=demo_outcome.credits,
                    hours=demo_outcome.hours,
                    validity_years=demo_outcome.validity_years,
                    min_score=demo_outcome.min_score,
                ),
                hours_per_credit=settings.hours_per_credit,
            )
            credit_units[demo_outcome.code] = outcome.credits_units

        accounts: list[str] = []
        codes: list[str | None] = []
        for person in people:
            enrolment = learner_service.enroll(
                session,
                secret=secret,
                name=person.name,
                national_id=person.national_id,
                phone=person.phone,
                district=_place(person.district)[0],
                township=_place(person.district)[1],
                institution_id=by_code[person.enroler].id,
            )
            accounts.append(enrolment.learner.account_no)
            codes.append(enrolment.activation_code)

        rows_by_institution: dict[str, list[PlannedCompletion]] = defaultdict(list)
        for item in planned:
            rows_by_institution[item.outcome.institution].append(item)
        for spec in INSTITUTIONS:
            items = sorted(rows_by_institution.get(spec.code, []), key=lambda c: (c.completed_on, c.learner))
            numbers: dict[int, int] = defaultdict(int)
            rows = []
            for line, item in enumerate(items, start=1):
                numbers[item.completed_on.year] += 1
                rows.append(
                    (
                        line,
                        {
                            "external_id": f"{spec.id_prefix}-{item.completed_on.year}-{numbers[item.completed_on.year]:06d}",
                            "account_no": accounts[item.learner],
                            "national_id": None,
                            "outcome_code": item.outcome.code,
                            "completed_on": item.completed_on,
                            "score": item.score,
                            "hours": item.outcome.hours,
                        },
                    )
                )
            # As the institution's own system would: one all-or-nothing batch under its demo key.
            completions.import_rows(
                session,
                institution=by_code[spec.code],
                api_key_id=key_ids[spec.code],
                secret=secret,
                rows=rows,
                mode="all_or_nothing",
            )
        _conversion_rules(session, by_code["CQOUYC"], today)
        _district_office(session, people)
        logins, (office, office_password, totp_secret) = _staff_logins(session, secret)
        issuer = Issuer(settings)
        issued = _certificates(session, issuer, [accounts[p.index] for p in _showcase(people)], accounts[-1])
    elapsed = time.perf_counter() - started
    total_units = sum(credit_units[c.outcome.code] for c in planned)
    summary = _summary(people, planned, accounts, codes, keys, total_units, elapsed, seed)
    base = issuer.base_url
    # One secret a line, its label before it: on an 80-column terminal a long line wrapped and left
    # the operator's password alone on the next line, with nothing saying what it was.
    lines = [
        f"  学习者网页 Learner portal: {base}/activate",
        f"    （账号和激活码见上，再设密码；以后在 {base}/signin 登录）",
        "    (account number and code above, then choose a password; later /signin)",
        f"  用人单位验证 Employer check: {base}/verify",
        "  演示证书 Demo certificates (open on a phone, or POST /api/v1/verify):",
    ]
    lines += [f"    {label:<22} {base}/v/{certificate_id}" for label, certificate_id in issued]
    lines.append(f"  机构工作台 Institution console: {base}/staff/signin")
    for who, username, password in logins:
        lines += [f"    {who}", f"      用户名 username: {username}", f"      密码 password:   {password}"]
    lines += [
        f"  区学分银行管理 District office: {base}/operator/signin",
        "    管理员 operator（密码 + 动态验证码 password + TOTP code）",
        f"      用户名 username:  {office}",
        f"      密码 password:    {office_password}",
        f"      TOTP 密钥 secret: {totp_secret}",
        "      （把密钥加入身份验证器 App / add the secret to an authenticator app）",
    ]
    return summary + "\n" + "\n".join(lines)


def _district_office(session, people: list[PlannedLearner]) -> None:
    """What the district office enters before its dashboard shows rates and coverage: the resident
    population and the area list (demo figures). The targets stay the seeds' defaults."""
    stats.set_population(
        session,
        lines=[
            stats.PopulationLine(district, band, residents, line)
            for line, ((district, band), residents) in enumerate(plan_population(people).items(), start=1)
        ],
    )
    stats.replace_areas(
        session,
        lines=[stats.AreaLine(d, t, v, line) for line, (d, t, v) in enumerate(plan_areas(), start=1)],
    )


def _staff_logins(session, secret: bytes) -> tuple[list[tuple[str, str, str]], tuple[str, str, str]]:
    """Demo logins: a clerk at the community college, an approver (and clerk) at the open
    university, and an operator whose TOTP secret is printed (add it to an authenticator app).
    The passwords are random, printed once."""
    logins = []
    for code, username, name, roles, who in (
        ("YCCEC", "yc-clerk", "王老师", ["clerk"], "经办员 clerk · YCCEC"),
        ("CQOUYC", "ou-approver", "陈老师", ["clerk", "approver"], "审批员 approver · CQOUYC"),
    ):
        password = secrets.token_urlsafe(9)
        staff_accounts.create_staff(
            session, institution_code=code, username=username, name=name, password=password, roles=roles
        )
        logins.append((who, username, password))
    password = secrets.token_urlsafe(9)
    account, totp_secret = staff_accounts.create_operator(
        session, username="office", name="区社区教育办公室", password=password, secret=secret
    )
    return logins, (account.username, password, totp_secret)


def _conversion_rules(session, open_university: Institution, today: date) -> None:
    """SPEC §6: one qualification and two approved rules at the open university."""
    conversion.put_qualification(
        session,
        institution=open_university,
        code="OU-PRESCHOOL-DIPLOMA",
        spec=QualificationSpec.model_validate(
            {
                "name_zh": "学前教育专业（专科）",
                "name_en": "Preschool education (associate degree)",
                "total_credits": 60,
                "max_transfer_ratio": 0.5,
                "per_year_cap": 42,
                "per_institution_cap": 20,
                "requirements": [
                    {"category": "academic", "min_credits": 30},
                    {"outcome": "CQOUYC:OU-PRESCHOOL-EDU"},
                ],
            }
        ),
    )
    start = today.replace(month=1, day=1)
    rules = [
        RuleSpec.model_validate(
            {
                "code": "NANNY-TO-PRESCHOOL",
                "name_zh": "育婴师证书转学前教育学学分",
                "name_en": "Infant-care certificate to preschool education credits",
                "target_outcome_code": "OU-PRESCHOOL-EDU",
                "credits": 3,
                "source": {"all_of": ["CQOUYC:OU-NANNY-CERT"]},
                "effective_from": start,
                "qualification_code": "OU-PRESCHOOL-DIPLOMA",
            }
        ),
        RuleSpec.model_validate(
            {
                "code": "AGRI-TO-MODERN",
                "name_zh": "社区农业培训学分转现代农业技术基础",
                "name_en": "Community farming credits to modern agricultural technology",
                "target_outcome_code": "OU-MODERN-AGRI",
                "credits": 2,
                "source": {
                    "credits": {"category": "community", "min_level": 2, "amount": 3, "within_years": 5}
                },
                "effective_from": start,
            }
        ),
    ]
    for spec in rules:
        rule, _ = conversion.propose_rule(session, institution=open_university, spec=spec)
        conversion.approve_rule(session, rule_id=rule.id)


def _certificates(session, issuer: Issuer, showcase: list[str], other: str) -> list[tuple[str, str]]:
    """An achievement and a transcript for each showcase learner, and one revoked certificate."""
    issued = []
    for account_no in [*showcase, other]:
        learner = learner_service.by_account_no(session, account_no)
        first = (
            session.execute(
                select(Completion.id)
                .where(Completion.learner_id == learner.id)
                .order_by(col(Completion.completed_on), col(Completion.id))
            )
            .scalars()
            .first()
        )
        achievement = certificates.issue(
            session,
            issuer,
            learner=learner,
            kind=CertificateKind.achievement,
            completion_id=first,
            issued_by="demo",
        )
        if account_no == other:
            certificates.revoke(
                session, certificate_id=achievement.id, reason="演示：机构登记错误 / demo: posted in error"
            )
            issued.append(("已撤销 revoked", achievement.id))
            continue
        transcript = certificates.issue(
            session, issuer, learner=learner, kind=CertificateKind.transcript, issued_by="demo"
        )
        issued += [
            (f"证书 achievement {account_no}", achievement.id),
            (f"成绩单 transcript {account_no}", transcript.id),
        ]
    return issued


def _summary(
    people: list[PlannedLearner],
    planned: list[PlannedCompletion],
    accounts: list[str],
    codes: list[str | None],
    keys: dict[str, str],
    total_units: int,
    elapsed: float,
    seed: int,
) -> str:
    seniors = sum(p.band == "s" for p in people)
    lines = [
        f"演示数据已加载 Demo data loaded · seed {seed} · {elapsed:.1f} s",
        f"  机构 institutions {len(INSTITUTIONS)} · 学习成果 outcomes {len(OUTCOMES)} · "
        f"学习者 learners {len(people)} (60+: {seniors})",
        f"  学习成果记录 completions {len(planned)} · 学分 credits {total_units / 100:g}",
        "  统计用的常住人口与区域名录为演示数字（按演示学习者人数缩小），并非统计数据 / the statistics' "
        "resident population and area list are demo figures (scaled to the demo's learners), not statistics",
        "  机构 API 密钥 API keys (shown once 仅显示一次; Authorization: Bearer …):",
    ]
    for spec in INSTITUTIONS:
        lines += [f"    {spec.code} {spec.name_zh}", f"      API 密钥 key: {keys[spec.code]}"]
    lines.append(
        "  演示学习者 Demo learners (activate on the learner portal below, or POST /api/v1/auth/activate):"
    )
    for person in _showcase(people):
        lines += [
            f"    {person.name} {person.age}岁 {person.district}",
            f"      账号 account: {accounts[person.index]}",
            f"      激活码 code:  {codes[person.index]}",
        ]
    return "\n".join(lines)


def _showcase(people: list[PlannedLearner]) -> list[PlannedLearner]:
    """Two learners worth trying: the first aged 60+ and the first of working age."""
    chosen = []
    for band in ("s", "a"):
        person = next((p for p in people if p.band == band), None)
        if person is not None:
            chosen.append(person)
    return chosen or people[:2]
