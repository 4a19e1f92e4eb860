"""creditbank — 学分银行: certification, accumulation and conversion of learning outcomes."""

__version__ = "0.1.0"
