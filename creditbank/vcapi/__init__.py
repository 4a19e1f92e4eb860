"""A W3C CCG VC-API (issue, verify credentials and presentations) for conformance testing,
switched off by default (``CREDITBANK_VC_API=true``). See ``service.py`` and docs/interop.md."""
