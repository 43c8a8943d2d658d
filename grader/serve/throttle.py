"""How many wrong tokens one client address may send: a few a minute, then 429 until the minute has passed.

Every place a token is checked counts: the sign-in form (the only form
anyone may post to), ``Authorization: Bearer`` on the API and the mugrade
protocol's ``user_key``. An address that sent ``LIMIT`` wrong tokens within
``WINDOW`` seconds has none of its tokens checked until the oldest of them
is that old: a right token is not let through either, or the limit would
still answer every guess. Only a token found wrong counts, once it is
found wrong: a classroom behind one address, its students' pages and
notebooks asking at once, is never held up by its own right tokens. Wrong
tokens sent all at once may each be checked before the first is counted;
at most as many as the server answers at once, against a 192-bit token.

The counts live in the web process's memory: with several web processes
behind a proxy, each keeps its own, so an address may send up to LIMIT
wrong tokens a minute to each of them. The client address is the socket's
peer, or what a trusted proxy forwards (uvicorn trusts 127.0.0.1, and the
addresses in ``$FORWARDED_ALLOW_IPS``).
"""

import collections
import math
import threading
import time

LIMIT = 10
WINDOW = 60.0
MAX_ADDRESSES = 10_000    # addresses remembered at once; the longest quiet are forgotten first


class Throttle:
    """Wrong tokens per client address over a sliding window."""

    def __init__(self, limit=LIMIT, window=WINDOW, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures = collections.OrderedDict()    # address -> deque of times, the least recent address first
        self._lock = threading.Lock()

    def admit(self, address):
        """Seconds until ``address`` may have a token checked again; 0 lets it now."""
        moment = self.clock()
        with self._lock:
            times = self._failures.get(address)
            if times is None:
                return 0
            while times and moment - times[0] >= self.window:
                times.popleft()
            if len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[0] + self.window - moment))

    def failed(self, address):
        """Count a wrong token from ``address``; the address is now the most recently heard from."""
        moment = self.clock()
        with self._lock:
            times = self._failures.pop(address, None) or collections.deque()
            times.append(moment)
            self._failures[address] = times
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)


def client_address(request):
    return request.client.host if request.client else "unknown"


def too_many(wait):
    """What a throttled caller is told, and its Retry-After."""
    return (f"too many wrong tokens from your address: try again in {wait} s", {"Retry-After": str(wait)})
