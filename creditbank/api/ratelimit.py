"""Rate limits for the HTTP face: the shared, bounded table of ``kit.ratelimit``.

Kept as an import path for the routes and tests that name it; the limits hold across every worker
process of the deployment and the table's memory is fixed (issue 9 item 12).
"""

from creditbank.kit.ratelimit import RateLimiter

__all__ = ["RateLimiter"]
