"""What a public deployment's address must be for did:web (docs/deploy.md).

The did:web method names the issuer by a **domain name** and resolves its DID document over
**HTTPS** (``https://<domain>/.well-known/did.json``). A bank whose public address is an IP
address or plain http still works on its own pages, but no verifier elsewhere can resolve its
issuer DID, and the QR links travel in clear. ``creditbank serve`` prints these warnings unless it
runs the demo.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def address_problems(base_url: str) -> list[str]:
    """Warnings (Chinese, then English) about a public address that did:web cannot use."""
    parts = urlsplit(base_url.strip())
    host = parts.hostname or ""
    problems = []
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        problems.append(
            f"公开地址 {base_url} 是 IP 地址：did:web 只接受域名，外部验证方无法解析本行的签发方标识（DID）。"
            "请为学分银行配置域名，见 docs/deploy.md。\n"
            f"The public address {base_url} is an IP address: did:web accepts only a domain name, so "
            "verifiers elsewhere cannot resolve the bank's issuer DID. Give the bank a domain name "
            "(docs/deploy.md)."
        )
    if parts.scheme != "https":
        problems.append(
            f"公开地址 {base_url} 使用明文 http：did:web 只能通过 HTTPS 解析，二维码链接也会明文传输。"
            "请在 TLS 反向代理（Caddy 或 nginx）之后运行，并把 CREDITBANK_BASE_URL 设为 https:// 地址，"
            "见 docs/deploy.md。\n"
            f"The public address {base_url} is plain http: did:web resolves over HTTPS only, and the QR "
            "links would travel in clear. Run behind a TLS reverse proxy (Caddy or nginx) and set "
            "CREDITBANK_BASE_URL to the https:// address (docs/deploy.md)."
        )
    return problems
