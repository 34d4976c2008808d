"""Progress of long loops with an estimate of the time left: a rewritten
line on a terminal, a line per quarter in a log file."""

import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def time_left(done: int, total: int, seconds: float) -> str:
  """'~3 min left' from the rate so far ('' before the first item)."""
  if done <= 0 or total <= done:
    return ""
  left = seconds / done * (total - done)
  return f"~{left / 60:.0f} min left" if left >= 90 else f"~{left:.0f} s left"


def line(label: str, done: int, total: int, start: float,
         unit: str = "") -> str:
  spent = max(time.time() - start, 1e-9)
  rate = done / spent
  left = time_left(done, total, spent)
  return (f"  {label}: {done}/{total}{unit}, {rate:.2f}{unit or ''}/s"
          f"{', ' + left if left else ''}")


def report(label: str, done: int, total: int, start: float,
           unit: str = "", final: bool = False) -> None:
  """Prints the progress line: rewritten in place on a terminal; in a log
  only at the end (`final`)."""
  text = line(label, done, total, start, unit)
  if sys.stdout.isatty():
    print("\r" + text, end="\n" if final else "", flush=True)
  elif final:
    print(text, flush=True)


def counted(items: Iterable[T], total: int, label: str) -> Iterator[T]:
  """Yields `items`, reporting progress (at most every 0.5 s)."""
  start = last = time.time()
  done = 0
  for item in items:
    yield item
    done += 1
    if time.time() - last >= 0.5:
      report(label, done, total, start)
      last = time.time()
  report(label, done, total, start, final=True)
