"""Progress of a batch prediction: a bar on a terminal (tqdm), plain lines in logs and pipes."""

import sys
import time


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Counts processed images; ``update(status)`` after each one, ``close()`` at the end.

    On a terminal it draws a tqdm bar (images/s, ETA); otherwise (a log
    file, a pipe, CI) it prints a plain line about every ``every_s``
    seconds and at the end: ``predict: 120/1000 (12%), 3.4 images/s, ETA 4m18s``.
    ``enabled=False`` prints nothing.
    """

    def __init__(self, total, *, stream=None, enabled=True, every_s=10.0, clock=time.monotonic):
        self.total, self.count = total, 0
        self.stream = stream or sys.stderr
        self.enabled, self.every_s, self.clock = enabled, every_s, clock
        self.start = self.last = clock()
        self._bar = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, unit="image", file=self.stream, desc="predict", dynamic_ncols=True)

    def line(self):
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.count / elapsed
        eta = f", ETA {_duration((self.total - self.count) / rate)}" if rate > 0 and self.count < self.total else ""
        share = f" ({100 * self.count / self.total:.0f}%)" if self.total else ""
        return f"predict: {self.count}/{self.total}{share}, {rate:.1f} images/s{eta}"

    def update(self, n=1):
        self.count += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
        elif self.clock() - self.last >= self.every_s:
            self.last = self.clock()
            print(self.line(), file=self.stream, flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            print(self.line(), file=self.stream, flush=True)
