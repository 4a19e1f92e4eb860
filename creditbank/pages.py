"""Server-rendered pages (Jinja2 templates in the top-level ``templates/`` folder)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from creditbank.kit.resources import shared_dir

TEMPLATES = shared_dir("templates", "verify.html.j2")


class Pages:
    def __init__(self, templates_dir: Path = TEMPLATES) -> None:
        self.templates_dir = templates_dir

    @cached_property
    def env(self) -> Environment:
        return Environment(
            loader=FileSystemLoader(self.templates_dir), autoescape=select_autoescape(["html", "j2"])
        )

    def verification(self, certificate_id: str, context: dict[str, Any]) -> str:
        return self.env.get_template("verify.html.j2").render(
            **({"certificate_id": certificate_id} | context)
        )
